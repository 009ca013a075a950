// A request completed with the keyboard alone: no click, no mouse. Every step moves the focus
// with Tab and acts with Enter or typing, as someone who cannot use a pointer does, and the
// test asserts where the focus lands after the page changes under it.
import { test, expect, type Locator, type Page } from '@playwright/test';

/** Presses Tab (Shift+Tab with `back`) until `target` has the focus; fails after `limit`. */
async function tabTo(page: Page, target: Locator, { back = false, limit = 60 } = {}) {
  const handle = await target.elementHandle();
  for (let i = 0; i < limit; i++) {
    if (await page.evaluate((el) => document.activeElement === el, handle)) return;
    await page.keyboard.press(back ? 'Shift+Tab' : 'Tab');
  }
  throw new Error(`could not reach ${target} with the keyboard`);
}

test('a request is completed with the keyboard only, list items added and removed, focus after a refusal', async ({ page }) => {
  await page.goto('/login');
  await tabTo(page, page.getByRole('button', { name: 'Continue as Alice Archer' }));
  await page.keyboard.press('Enter');
  await expect(page).toHaveURL(/\/catalog$/);
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');

  // Into the offering through its card; the new page takes the focus.
  await tabTo(page, page.getByRole('link', { name: /Web service/ }));
  await page.keyboard.press('Enter');
  await expect(page.getByRole('heading', { name: 'Web service', level: 1 })).toBeVisible();
  await expect(page.locator('#main')).toBeFocused();

  // A name the server refuses (capitals), and two ports, the second removed again.
  await tabTo(page, page.locator('#request-name'));
  await page.keyboard.type('Keyboard_Web');
  const add = page.getByRole('button', { name: 'Add to Ports' });
  await tabTo(page, add);
  await page.keyboard.press('Enter');
  const first = page.locator('[data-path="/ports/0/name"] input');
  await expect(first, 'a new item takes the focus').toBeFocused();
  await page.keyboard.type('http');
  await tabTo(page, add);
  await page.keyboard.press('Enter');
  await expect(page.locator('[data-path="/ports/1/name"] input')).toBeFocused();
  await page.keyboard.type('metrics');
  await tabTo(page, page.getByRole('button', { name: /^Remove .* 2$/ }));
  await page.keyboard.press('Enter');
  await expect(page.locator('[data-path="/ports/1"]')).toHaveCount(0);
  await expect(first, 'a removed item hands the focus to the one before').toBeFocused();

  // Refused: the focus goes to the first field that needs attention.
  await tabTo(page, page.getByTestId('submit-request'));
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('submit-error')).toContainText('Not submitted');
  const name = page.locator('#request-name');
  await expect(name).toBeFocused();
  await expect(name).toHaveAttribute('aria-invalid', 'true');
  await expect(name).toHaveAttribute('aria-describedby', /request-name-error/);

  // Corrected and submitted: the request page, followed to Committed without a reload.
  await page.keyboard.press('Control+A');
  await page.keyboard.type('keyboard-web');
  await tabTo(page, page.getByTestId('submit-request'));
  await page.keyboard.press('Enter');
  await expect(page).toHaveURL(/\/requests\/[0-9a-f-]{36}$/);
  await expect(page.getByRole('heading', { level: 1 })).toContainText('keyboard-web');
  await expect(page.locator('#main')).toBeFocused();
  await expect(page.getByTestId('stage').first()).toHaveAttribute('data-stage', 'committed');
});
