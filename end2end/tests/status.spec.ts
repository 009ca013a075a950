// Live status in a real browser: a request is committed by the Git writer, its claim appears
// in the cluster (the Kubernetes API test double, as Argo CD would create it), and a status
// patched through the real API reaches the open request page over Server-Sent Events — the
// badge changes without a reload, within a second — and the ledger records it.
import { test, expect } from './fixtures';
import { tabTo } from './tab';

const kube = process.env.SLIPWAY_E2E_KUBE_URL!;
const auth = { Authorization: 'Bearer kube-double-token' };
const claims = `${kube}/apis/database.example.org/v1alpha1/namespaces/team-a/postgresqlinstances`;

function condition(type: string, status: string, reason: string, message = '') {
  return { type, status, reason, message, lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z') };
}

async function patchStatus(name: string, conditions: object[]) {
  const res = await fetch(`${claims}/${name}/status`, {
    method: 'PATCH',
    headers: { ...auth, 'Content-Type': 'application/merge-patch+json' },
    body: JSON.stringify({ status: { conditions } }),
  });
  expect(res.status, await res.text()).toBe(200);
}

test('a claim status patched in the cluster changes the badge on the open request page without a reload', async ({ page }) => {
  await page.goto('/login');
  await page.getByRole('button', { name: 'Continue as Alice Archer' }).click();
  await page.goto('/catalog/postgresql');
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  await page.getByLabel('Name').fill('ledger-db');
  await page.getByTestId('submit-request').click();
  await expect(page).toHaveURL(/\/requests\/[0-9a-f-]{36}$/);
  const id = page.url().split('/').pop()!;
  await expect(page.getByTestId('stage').first()).toHaveAttribute('data-stage', 'committed');
  const badge = page.getByTestId('live-status').locator('h2').getByTestId('health-badge');
  await expect(badge).toHaveAttribute('data-state', 'none');

  // The applier creates the claim with the request's stamp.
  const created = await fetch(claims, {
    method: 'POST',
    headers: { ...auth, 'Content-Type': 'application/json' },
    body: JSON.stringify({
      apiVersion: 'database.example.org/v1alpha1', kind: 'PostgreSQLInstance',
      metadata: {
        name: 'ledger-db', namespace: 'team-a',
        labels: { 'slipway.dev/team': 'team-a', 'slipway.dev/environment': 'dev' },
        annotations: { 'slipway.dev/request-id': id },
      },
      spec: { parameters: { storageGB: 20, version: '16' } },
    }),
  });
  expect(created.status, await created.text()).toBe(201);
  await expect(page.getByTestId('live-indicator')).toHaveAttribute('data-live', 'open');
  await expect(badge).toHaveAttribute('data-state', 'unknown');
  await expect(page.getByTestId('timeline').locator('[data-kind="synced"]')).toBeVisible();

  // From here on, a reload would lose this marker.
  await page.evaluate(() => { (window as any).__sameDocument = true; });
  await patchStatus('ledger-db', [
    condition('Synced', 'False', 'ReconcileError', 'cannot resolve references: subnet group not found'),
    condition('Ready', 'False', 'Creating'),
  ]);
  await expect(badge).toHaveAttribute('data-state', 'failed', { timeout: 1_000 });
  await expect(page.getByTestId('root-cause')).toContainText('subnet group not found');
  // Said to a screen reader too, politely, in a live region that was there all along.
  const announcer = page.getByTestId('announcer');
  await expect(announcer).toHaveAttribute('aria-live', 'polite');
  await expect(announcer).toHaveText(/^(In the cluster: Failed|Stage: Failing)/);

  await patchStatus('ledger-db', [condition('Synced', 'True', 'ReconcileSuccess'), condition('Ready', 'True', 'Available')]);
  await expect(badge).toHaveAttribute('data-state', 'ready', { timeout: 1_000 });
  await expect(announcer).toHaveText(/^(In the cluster: Ready|Stage: Ready)/);
  await expect(page.getByTestId('timeline').locator('[data-kind="ready"]')).toBeVisible();
  await expect(page.getByTestId('timeline').locator('[data-kind="failed"]')).toContainText('subnet group not found');
  expect(await page.evaluate(() => (window as any).__sameDocument)).toBe(true);

  // Once Ready, the requester can rate the offering, with the keyboard alone; the rating is
  // there after a reload.
  const feedback = page.getByTestId('feedback');
  await expect(feedback).toBeVisible();
  // A radio group is one stop for Tab (its first button); the arrows choose within it.
  await tabTo(page, feedback.getByLabel('1', { exact: true }));
  for (let i = 0; i < 3; i++) await page.keyboard.press('ArrowRight');
  await expect(feedback.getByLabel('4', { exact: true })).toBeChecked();
  await tabTo(page, feedback.getByLabel('Comment (optional)'));
  await page.keyboard.type('Ready in minutes');
  await tabTo(page, feedback.getByTestId('rate'));
  await page.keyboard.press('Enter');
  await expect(feedback.getByTestId('rated')).toBeVisible();
  await page.reload();
  await expect(page.getByTestId('feedback').getByLabel('4', { exact: true })).toBeChecked();
  await expect(page.getByTestId('feedback').getByLabel('Comment (optional)')).toHaveValue('Ready in minutes');

  // The team's claims and the cluster overview tell the same story.
  await page.goto('/status');
  const row = page.getByTestId('claim-row').filter({ hasText: 'ledger-db' });
  await expect(row.getByTestId('health-badge')).toHaveAttribute('data-state', 'ready');
  // A change while the list is open is patched in and said, naming the claim.
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  await expect(page.getByTestId('live-indicator')).toHaveAttribute('data-live', 'open');
  await patchStatus('ledger-db', [
    condition('Synced', 'True', 'ReconcileSuccess'),
    condition('Ready', 'False', 'Unavailable', 'instance is restarting'),
  ]);
  await expect(row.getByTestId('health-badge')).not.toHaveAttribute('data-state', 'ready');
  await expect(page.getByTestId('announcer')).toHaveText(/^ledger-db: /);
  await patchStatus('ledger-db', [condition('Synced', 'True', 'ReconcileSuccess'), condition('Ready', 'True', 'Available')]);
  await expect(row.getByTestId('health-badge')).toHaveAttribute('data-state', 'ready');
  await expect(page.getByTestId('announcer')).toHaveText(/^ledger-db: Ready/);
  await page.goto('/status/clusters');
  const cluster = page.locator('[data-testid="cluster"][data-cluster="e2e"]');
  await expect(cluster.getByTestId('cluster-state')).toHaveAttribute('data-state', 'reachable');
  await expect(cluster.locator('[data-testid="watched-kind"][data-kind="Kustomization"]')).toHaveAttribute('data-state', 'not installed');
  await expect(cluster.locator('[data-testid="watched-kind"][data-kind="PostgreSQLInstance"]')).toContainText('1');
});

test('another team sees neither the claim nor its status', async ({ page }) => {
  await page.goto('/login');
  await page.getByRole('button', { name: 'Continue as Bob Builder' }).click();
  await page.goto('/status');
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  await expect(page.getByTestId('claim-row').filter({ hasText: 'ledger-db' })).toHaveCount(0);
});
