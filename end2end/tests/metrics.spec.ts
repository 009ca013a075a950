// The metrics dashboard in a real browser, over the ledger imported from
// end2end/metrics/ledger.yaml (team team-c, last 30 days). Worked out by hand:
//   requests 4 (c-orders, c-billing: Ready; c-assets: failed in Git; c-logs: failing)
//   success rate 2 / 4 settled = 50.0 %
//   time to ready: c-orders 10 min, c-billing 30 min → p50 10.0 min, p90 30.0 min
//   deployments (synced) c-orders, c-billing, c-logs = 3 → 3 / (30/7 weeks) = 0.7 per week
//   lead time 2, 4, 2 min → p50 2.0 min; change failures c-billing, c-logs = 2 of 3 = 66.7 %
//   time to restore: c-billing failed 5d ago, Ready 60 min later → 60.0 min
//   ratings 5 and 3 → 4.0 / 5
import { test, expect } from './fixtures';
import { readFileSync } from 'node:fs';

test('the dashboard shows the seeded ledger as figures, SVG charts and tables, and exports CSV', async ({ page }) => {
  await page.goto('/login');
  await page.getByRole('button', { name: 'Continue as Pat Platform' }).click();
  await page.goto('/metrics?days=30&team=team-c');
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');

  const figure = (label: string) => page.locator(`[data-testid="figure"][data-label="${label}"]`).getByTestId('figure-value');
  await expect(figure('Requests')).toHaveText('4');
  await expect(figure('Success rate')).toHaveText('50.0 %');
  await expect(figure('Time to ready (p50)')).toHaveText('10.0 min');
  await expect(page.locator('[data-testid="figure"][data-label="Time to ready (p50)"]')).toContainText('p90 30.0 min');
  await expect(figure('Deployments per week')).toHaveText('0.7');
  await expect(figure('Lead time (p50)')).toHaveText('2.0 min');
  await expect(figure('Change failure rate')).toHaveText('66.7 %');
  await expect(figure('Time to restore (p50)')).toHaveText('60.0 min');
  await expect(figure('Rating')).toHaveText('4.0 / 5');
  await expect(figure('Active teams')).toHaveText('1');

  // Charts are server-rendered SVG images with a title and a description for screen readers.
  const weeks = page.getByTestId('chart-weeks');
  await expect(weeks).toHaveAttribute('role', 'img');
  await expect(weeks.locator('title').first()).toHaveText('Requests submitted per week');
  const values = await weeks.getByTestId('chart-mark').evaluateAll((marks) =>
    marks.map((m) => Number(m.getAttribute('data-value'))));
  expect(values.reduce((a, b) => a + b, 0)).toBe(4);
  await expect(page.getByTestId('chart-offerings').getByTestId('chart-mark')).toHaveCount(1);
  await expect(page.getByTestId('chart-stages').getByTestId('chart-mark')).toHaveCount(4);
  // Readable in dark mode: bars and labels take the dark palette (lighter on dark).
  const bar = weeks.locator('rect').first();
  const label = page.getByTestId('chart-offerings').locator('text').first();
  const colours = async () => ({
    bar: await bar.evaluate((e) => getComputedStyle(e).fill),
    label: await label.evaluate((e) => getComputedStyle(e).fill),
  });
  const light = await colours();
  await page.evaluate(() => document.documentElement.classList.add('dark'));
  const dark = await colours();
  expect(dark.bar).not.toBe(light.bar);
  expect(dark.label).not.toBe(light.label);
  await page.evaluate(() => document.documentElement.classList.remove('dark'));

  // Tables beside the charts.
  const pg = page.locator('[data-testid="table-offerings"] [data-testid="group-row"][data-key="postgresql"]');
  // Their cells take their look from the table's one class (style/tailwind.css): small
  // capitals in the header, padded cells, a rule between rows.
  await expect(page.getByTestId('table-offerings').locator('th').first()).toHaveCSS('text-transform', 'uppercase');
  await expect(pg.locator('td').first()).toHaveCSS('padding-left', '12px');
  await expect(pg).toHaveCSS('border-top-width', '1px');
  await expect(pg).toContainText('10.0 min');
  await expect(pg).toContainText('30.0 min');
  await expect(pg).toContainText('4.0 / 5');
  const dora = page.locator('[data-testid="dora-row"][data-team="team-c"][data-environment="prod"]');
  await expect(dora).toContainText('60.0 min (1 restore)');
  await expect(page.getByTestId('table-failures')).toContainText('CannotCreateExternalResource');
  await expect(page.getByTestId('table-failures')).toContainText('Git: dev/team-c/bucket/c-assets.yaml is already in the repository');
  await expect(page.getByTestId('feedback-list')).toContainText('Ready before my coffee');

  // Every table downloads as CSV with the same numbers.
  const download = page.waitForEvent('download');
  await page.getByTestId('csv-offerings').click();
  const file = await download;
  expect(file.suggestedFilename()).toBe('slipway-offerings-30d.csv');
  const csv = readFileSync((await file.path())!, 'utf8').trim().split('\n');
  expect(csv[0]).toBe('offering,requests,succeeded,failed,ready_p50_ms,ready_p90_ms,rating,ratings');
  expect(csv).toContain('postgresql,2,2,0,600000,1800000,4.00,2');
  expect(csv).toContain('bucket,2,0,2,,,,0');

  // The team's own page tells the same story.
  await page.locator('[data-testid="table-teams"]').getByRole('link', { name: 'team-c' }).click();
  await expect(page).toHaveURL(/\/metrics\/teams\/team-c/);
  await expect(figure('Requests')).toHaveText('4');
});

test('a member sees only their teams and cannot open another team\'s figures', async ({ page }) => {
  await page.goto('/login');
  await page.getByRole('button', { name: 'Continue as Bob Builder' }).click();
  await page.goto('/metrics?days=30&team=team-c');
  await expect(page.getByText('The team "team-c" was not found.')).toBeVisible();
  const csv = await page.request.get('/api/metrics/export/offerings?days=30&team=team-c');
  expect(csv.status()).toBe(404);
});

test('Prometheus metrics are served on the admin listener with bounded labels', async ({ request }) => {
  const res = await request.get(process.env.SLIPWAY_E2E_METRICS_URL!);
  expect(res.status()).toBe(200);
  const text = await res.text();
  expect(text).toContain('# TYPE slipway_http_requests counter');
  expect(text).toMatch(/slipway_http_requests_total\{method="GET",route="\/readyz",status="2xx"\} \d+/);
  expect(text).toContain('slipway_cluster_reachable{cluster="e2e"} 1');
  expect(text.trim().endsWith('# EOF')).toBe(true);
});
