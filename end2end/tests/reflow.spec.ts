// Zoom: at 400 % a 1280-pixel window is 320 CSS pixels wide, at 200 % it is 640 (WCAG 2.2
// 1.4.10 Reflow). Every page type must then fit the width: nothing wider than the window
// that would make a person scroll sideways to read a line. Tables may scroll inside their
// own card (data tables are exempt), never the page.
import { test, expect } from './fixtures';

test('every page type reflows at 200 % and 400 % zoom without scrolling sideways', async ({ browser }) => {
  test.setTimeout(120_000);
  const overflowing: string[] = [];
  for (const width of [640, 320]) {
    const context = await browser.newContext({ viewport: { width, height: 720 } });
    const page = await context.newPage();
    await page.goto('/login');
    await page.getByRole('button', { name: 'Continue as Pat Platform' }).click();
    await expect(page).toHaveURL(/\/catalog$/);
    for (const path of [
      '/login', '/catalog', '/catalog/postgresql', '/catalog/web-service', '/requests', '/status',
      '/status/clusters', '/metrics', '/metrics/teams/team-a', '/metrics/offerings/postgresql',
      '/tokens', '/approvals', '/admin', '/admin/audit', '/admin/git', '/admin/users',
    ]) {
      await page.goto(path);
      await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
      await page.waitForLoadState('networkidle');
      const wide = await page.evaluate(() => {
        const doc = document.documentElement;
        if (doc.scrollWidth <= doc.clientWidth) return null;
        // The widest element that is not inside a scrolling container: what to fix.
        const culprits = [...document.querySelectorAll('body *')].filter((el) => {
          const r = el.getBoundingClientRect();
          if (r.right <= doc.clientWidth + 1) return false;
          for (let p = el.parentElement; p; p = p.parentElement) {
            const o = getComputedStyle(p).overflowX;
            if (o === 'auto' || o === 'scroll' || o === 'hidden') return false;
          }
          return true;
        });
        const first = culprits[culprits.length - 1];
        return `${doc.scrollWidth}px > ${doc.clientWidth}px, e.g. <${first?.tagName.toLowerCase()} class="${first?.className}">`;
      });
      if (wide) overflowing.push(`${width}px ${path}: ${wide}`);
    }
    await context.close();
  }
  expect(overflowing, overflowing.join('\n')).toEqual([]);
});
