// Keyboard-only steps shared by the browser tests.
import { expect, type Locator, type Page } from '@playwright/test';

/** Presses Tab (Shift+Tab with `back`) until `target` has the focus; fails after `limit`. */
export async function tabTo(page: Page, target: Locator, { back = false, limit = 60 } = {}) {
  const handle = await target.elementHandle();
  for (let i = 0; i < limit; i++) {
    if (await page.evaluate((el) => document.activeElement === el, handle)) return;
    await page.keyboard.press(back ? 'Shift+Tab' : 'Tab');
  }
  throw new Error(`could not reach ${target} with the keyboard`);
}

/** Signs in as `persona` through the development login with the keyboard: on the catalog,
 *  hydrated. */
export async function signInByKeyboard(page: Page, persona: string) {
  await page.goto('/login');
  await tabTo(page, page.getByRole('button', { name: `Continue as ${persona}` }));
  await page.keyboard.press('Enter');
  await expect(page).toHaveURL(/\/catalog$/);
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
}

/** A link or a form has loaded a new page: once it is hydrated, the keyboard starts at the
 *  top of the document, and its first stop is the link past the navigation to the content. */
export async function atNewPage(page: Page) {
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  await page.keyboard.press('Tab');
  await expect(page.getByRole('link', { name: 'Skip to content' })).toBeFocused();
}
