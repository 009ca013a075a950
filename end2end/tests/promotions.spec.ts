// Promotion in a real browser: a claim made Ready in dev's cluster (a Kubernetes API test
// double) is promoted to staging from its request page — the gates, the environment's own
// field and the diff are shown before anything is written — and the staging request is
// followed to Ready in staging's cluster (a second double) without a reload, with both
// environments side by side.
import { test, expect } from './fixtures';

const auth = { Authorization: 'Bearer kube-double-token' };
const claimsIn = (cluster: string) =>
  `${cluster}/apis/database.example.org/v1alpha1/namespaces/team-a/postgresqlinstances`;
const dev = claimsIn(process.env.SLIPWAY_E2E_KUBE_URL!);
const staging = claimsIn(process.env.SLIPWAY_E2E_STAGING_KUBE_URL!);

function condition(type: string, status: string, reason: string, message = '') {
  return { type, status, reason, message, lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z') };
}

/** Creates the claim as the GitOps applier would (with the request's stamp) and makes it Ready. */
async function applyReady(claims: string, name: string, environment: string, requestId: string) {
  const created = await fetch(claims, {
    method: 'POST',
    headers: { ...auth, 'Content-Type': 'application/json' },
    body: JSON.stringify({
      apiVersion: 'database.example.org/v1alpha1', kind: 'PostgreSQLInstance',
      metadata: {
        name, namespace: 'team-a',
        labels: { 'slipway.dev/team': 'team-a', 'slipway.dev/environment': environment },
        annotations: { 'slipway.dev/request-id': requestId },
      },
      spec: { parameters: { storageGB: 20, version: '16' } },
    }),
  });
  expect(created.status, await created.text()).toBe(201);
  const patched = await fetch(`${claims}/${name}/status`, {
    method: 'PATCH',
    headers: { ...auth, 'Content-Type': 'application/merge-patch+json' },
    body: JSON.stringify({ status: { conditions: [condition('Synced', 'True', 'ReconcileSuccess'), condition('Ready', 'True', 'Available')] } }),
  });
  expect(patched.status, await patched.text()).toBe(200);
}

test('a claim Ready in dev is promoted to staging after its diff is shown, and followed there to Ready', async ({ page }) => {
  await page.goto('/login');
  await page.getByRole('button', { name: 'Continue as Alice Archer' }).click();
  await page.goto('/catalog/postgresql');
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  await page.getByLabel('Name').fill('promo-db');
  // A draft from another test may have filled the form: the size is set here.
  await page.getByLabel('Storage (GiB)').fill('42');
  await page.getByTestId('submit-request').click();
  await expect(page).toHaveURL(/\/requests\/[0-9a-f-]{36}$/);
  const devId = page.url().split('/').pop()!;
  await expect(page.getByTestId('stage').first()).toHaveAttribute('data-stage', 'committed');

  await applyReady(dev, 'promo-db', 'dev', devId);
  const badge = page.getByTestId('live-status').locator('h2').getByTestId('health-badge');
  await expect(badge).toHaveAttribute('data-state', 'ready');
  // The live status comes before the timeline.
  const order = await page.evaluate(() => {
    const live = document.querySelector('[data-testid="live-status"]')!;
    const timeline = document.querySelector('[data-testid="timeline"]')!;
    return live.compareDocumentPosition(timeline) & Node.DOCUMENT_POSITION_FOLLOWING;
  });
  expect(order).toBeTruthy();

  // The plan: every gate passed, the environment's own field, the file it would write.
  await page.getByTestId('promote').filter({ hasText: 'staging' }).click();
  const panel = page.getByTestId('promote-panel');
  await expect(panel.getByRole('heading', { name: 'Promote to staging' })).toBeFocused();
  await expect(panel.locator('[data-testid="gate"][data-gate="ready"]')).toHaveAttribute('data-passed', 'true');
  await expect(panel.locator('[data-testid="gate"][data-passed="false"]')).toHaveCount(0);
  await expect(panel.locator('[data-testid="kept"][data-path="highAvailability"]')).toContainText('default');
  await expect(panel.getByTestId('promote-path')).toHaveText('staging/team-a/postgresqlinstance/promo-db.yaml');
  await expect(panel.getByTestId('promote-diff')).toContainText('+     storageGB: 42');
  await expect(panel.getByTestId('promote-diff')).toContainText('slipway.dev/environment: staging');

  // Cancel gives the focus back to the button that opened the panel; the keyboard opens it again.
  await panel.getByRole('button', { name: 'Cancel' }).click();
  const opener = page.getByTestId('promote').filter({ hasText: 'staging' });
  await expect(opener).toBeFocused();
  await page.keyboard.press('Enter');
  await expect(panel.getByRole('heading', { name: 'Promote to staging' })).toBeFocused();
  await expect(panel.getByTestId('confirm-promote')).toBeEnabled();

  await panel.getByTestId('confirm-promote').click();
  await expect(page).not.toHaveURL(new RegExp(devId));
  await expect(page).toHaveURL(/\/requests\/[0-9a-f-]{36}$/);
  const stagingId = page.url().split('/').pop()!;
  await expect(page.getByTestId('promoted-from')).toContainText(devId);
  await expect(page.getByTestId('stage').first()).toHaveAttribute('data-stage', 'committed');

  // Followed to Ready in staging's cluster on the open page.
  await page.evaluate(() => { (window as any).__sameDocument = true; });
  await applyReady(staging, 'promo-db', 'staging', stagingId);
  await expect(badge).toHaveAttribute('data-state', 'ready');
  await expect(page.getByTestId('timeline').locator('[data-kind="ready"]')).toBeVisible();

  // Side by side: dev and staging Ready, prod without the claim; the chain dev → staging.
  const across = page.getByTestId('across');
  const row = (env: string) => across.locator(`[data-testid="across-row"][data-environment="${env}"]`);
  await expect(row('dev').getByTestId('health-badge')).toHaveAttribute('data-state', 'ready');
  await expect(row('staging').getByTestId('health-badge')).toHaveAttribute('data-state', 'ready');
  await expect(row('prod')).toHaveAttribute('data-present', 'false');
  await expect(row('staging').getByTestId('across-promote')).toHaveText('Promote to prod');
  await expect(across.getByTestId('lineage-step')).toHaveCount(2);
  await expect(across.getByTestId('lineage-step').first()).toHaveAttribute('data-environment', 'dev');
  expect(await page.evaluate(() => (window as any).__sameDocument)).toBe(true);
});
