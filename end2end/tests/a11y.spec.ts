// Accessibility of every page type, checked by axe-core (the rule set most audits start
// from) in both themes, signed in: no violation of WCAG 2.x level A or AA, and none that axe
// rates serious or critical whatever its tags (landmarks among them). A new one fails here.
import { test, expect, type Browser, type Page } from './fixtures';
import AxeBuilder from '@axe-core/playwright';

const WCAG = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22a', 'wcag22aa'];

type Finding = { page: string; theme: string; rule: string; impact: string; nodes: number; first: string };

async function audit(page: Page, path: string, theme: string, findings: Finding[]) {
  const response = await page.goto(path);
  expect(response?.status(), path).toBeLessThan(500);
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  // What a person sees once the page has settled: resources loaded, charts drawn.
  await page.waitForLoadState('networkidle');
  const results = await new AxeBuilder({ page }).analyze();
  for (const v of results.violations) {
    const wcag = v.tags.some((t) => WCAG.includes(t));
    if (wcag || v.impact === 'serious' || v.impact === 'critical' || v.id === 'region') {
      findings.push({
        page: path,
        theme,
        rule: v.id,
        impact: v.impact ?? '',
        nodes: v.nodes.length,
        first: `${v.nodes[0]?.target.join(' ')} — ${v.nodes[0]?.failureSummary?.split('\n').slice(1, 2).join('')}`,
      });
    }
  }
}

async function signedIn(browser: Browser, theme: 'light' | 'dark', persona: string) {
  const context = await browser.newContext({ colorScheme: theme });
  const page = await context.newPage();
  await page.goto('/login');
  await page.getByRole('button', { name: `Continue as ${persona}` }).click();
  await expect(page).toHaveURL(/\/catalog$/);
  return page;
}

test('every page type passes axe-core in light and dark', async ({ browser }) => {
  test.setTimeout(180_000);
  const findings: Finding[] = [];
  let request = '';
  for (const theme of ['light', 'dark'] as const) {
    const anonymous = await (await browser.newContext({ colorScheme: theme })).newPage();
    await audit(anonymous, '/login', theme, findings);

    const page = await signedIn(browser, theme, 'Alice Archer');
    if (!request) {
      // A request of the team's own, so the request page has a timeline and a status.
      await page.goto('/catalog/postgresql');
      await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
      await page.getByLabel('Name').fill('a11y-db');
      await page.getByLabel('Storage (GiB)').fill('20');
      await page.getByTestId('submit-request').click();
      await expect(page).toHaveURL(/\/requests\/[0-9a-f-]{36}$/);
      await expect(page.getByTestId('stage').first()).toHaveAttribute('data-stage', 'committed');
      request = new URL(page.url()).pathname;
    }
    for (const path of [
      '/catalog', '/catalog/postgresql', '/requests', request, '/status', '/status/clusters',
      '/metrics', '/metrics/teams/team-a', '/metrics/offerings/postgresql', '/tokens',
      '/approvals', '/no/such/page',
    ]) {
      await audit(page, path, theme, findings);
    }
    const admin = await signedIn(browser, theme, 'Pat Platform');
    for (const path of ['/admin', '/admin/audit', '/admin/git', '/admin/users']) {
      await audit(admin, path, theme, findings);
    }
  }
  const report = findings.map((f) => `${f.theme} ${f.page}: ${f.rule} (${f.impact}) ×${f.nodes} — ${f.first}`);
  expect(report, report.join('\n')).toEqual([]);
});
