// Approvals in a real browser: the e2e portal's policy (end2end/catalog/policies.yaml) holds
// every prod request for an approval from team B. Alice submits to prod and sees it wait;
// Bob approves it from /approvals with the file it will write in front of him; Alice's
// request page moves on to Committed without a reload.
import { test, expect } from './fixtures';

test('a prod request waits for an approver, who approves it from the queue', async ({ browser }) => {
  const alice = await (await browser.newContext()).newPage();
  await alice.goto('/login');
  await alice.getByRole('button', { name: 'Continue as Alice Archer' }).click();
  await alice.goto('/catalog/postgresql');
  await expect(alice.locator('body')).toHaveAttribute('data-hydrated', 'true');
  await expect(alice.getByTestId('policies')).toContainText('prod-review');
  await alice.getByLabel('Environment').selectOption('prod');
  await alice.getByLabel('Name').fill('ledger-db');
  await alice.getByLabel('Storage (GiB)').fill('20');
  await alice.getByTestId('submit-request').click();
  await expect(alice).toHaveURL(/\/requests\/[0-9a-f-]{36}$/);
  await expect(alice.locator('body')).toHaveAttribute('data-hydrated', 'true');
  await expect(alice.getByTestId('stage').first()).toHaveAttribute('data-stage', 'awaiting_approval');
  await expect(alice.getByTestId('timeline').locator('[data-kind="awaiting_approval"]')).toContainText('team-b');

  const bob = await (await browser.newContext()).newPage();
  await bob.goto('/login');
  await bob.getByRole('button', { name: 'Continue as Bob Builder' }).click();
  await bob.goto('/approvals');
  await expect(bob.locator('body')).toHaveAttribute('data-hydrated', 'true');
  const item = bob.getByTestId('approval').filter({ hasText: 'team-a/ledger-db' });
  await expect(item.getByTestId('approval-diff')).toContainText('storageGB: 20');
  await item.getByLabel('Comment').fill('fine for prod');
  await item.getByTestId('approve').click();
  await expect(bob.getByTestId('decision-recorded')).toBeVisible();
  await expect(bob.getByTestId('approval').filter({ hasText: 'team-a/ledger-db' })).toHaveCount(0);

  // Alice's page follows without a reload: approved, then committed by the Git writer.
  await expect(alice.getByTestId('stage').first()).toHaveAttribute('data-stage', 'committed');
  await expect(alice.getByTestId('timeline').locator('[data-kind="approved"]')).toContainText('Bob Builder');
});
