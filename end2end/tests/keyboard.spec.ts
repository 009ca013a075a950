// A request completed with the keyboard alone: no click, no mouse. Every step moves the focus
// with Tab and acts with Enter or typing, as someone who cannot use a pointer does, and the
// test asserts where the focus lands after the page changes under it.
import { test, expect } from './fixtures';
import { atNewPage, signInByKeyboard, tabTo } from './tab';

test('a request is completed with the keyboard only, list items added and removed, focus after a refusal', async ({ page }) => {
  await signInByKeyboard(page, 'Alice Archer');

  // Into the offering through its card: a new page, the keyboard at its top.
  await tabTo(page, page.getByRole('link', { name: /Web service/ }));
  await page.keyboard.press('Enter');
  await expect(page.getByRole('heading', { name: 'Web service', level: 1 })).toBeVisible();
  await atNewPage(page);

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
  await atNewPage(page);
  await expect(page.getByTestId('stage').first()).toHaveAttribute('data-stage', 'committed');
});

test('list items reordered, map entries added and removed, a preview and the metrics filtered with the keyboard only', async ({ page }) => {
  await signInByKeyboard(page, 'Alice Archer');
  const announcer = page.getByTestId('announcer');

  // Reorder: the moved item keeps the focus at its new place, and the move is said.
  await tabTo(page, page.getByRole('link', { name: /Web service/ }));
  await page.keyboard.press('Enter');
  await atNewPage(page);
  const add = page.getByRole('button', { name: 'Add to Ports' });
  const portName = (i: number) => page.locator(`[data-path="/ports/${i}/name"] input`);
  for (const [i, port] of ['http', 'metrics'].entries()) {
    await tabTo(page, add);
    await page.keyboard.press('Enter');
    // The new item takes the focus once rendered: typing before that went to the button.
    await expect(portName(i)).toBeFocused();
    await page.keyboard.type(port);
  }
  await tabTo(page, page.getByRole('button', { name: /^Move .* 1 down$/ }), { back: true });
  await page.keyboard.press('Enter');
  await expect(portName(0)).toHaveValue('metrics');
  await expect(portName(1)).toHaveValue('http');
  // At the end of the list "down" is disabled: the focus is on the moved item's "up".
  await expect(page.getByRole('button', { name: /^Move .* 2 up$/ })).toBeFocused();
  await expect(announcer).toHaveText(/1 moved to position 2 of 2/);
  await page.keyboard.press('Enter');
  await expect(portName(0)).toHaveValue('http');
  await expect(page.getByRole('button', { name: /^Move .* 1 down$/ })).toBeFocused();

  // A preview: the focus goes to it.
  await tabTo(page, page.locator('#request-name'), { back: true });
  await page.keyboard.type('kb-preview');
  await tabTo(page, page.getByRole('button', { name: 'Preview' }));
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('preview')).toBeFocused();
  await expect(page.getByTestId('preview-path').first()).toContainText('kb-preview');

  // A map: a new entry's value takes the focus; a removed one hands it to the key box.
  await page.goto('/catalog');
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  await tabTo(page, page.getByRole('link', { name: /Object storage bucket/ }));
  await page.keyboard.press('Enter');
  await atNewPage(page);
  const newKey = page.getByRole('textbox', { name: /^New key for/ });
  await tabTo(page, newKey);
  await page.keyboard.type('cost-center');
  await page.keyboard.press('Tab');
  await page.keyboard.press('Enter');
  await expect(page.locator('[data-path="/labels/cost-center"] input')).toBeFocused();
  await page.keyboard.type('ops');
  await tabTo(page, page.getByRole('button', { name: 'Remove cost-center' }));
  await page.keyboard.press('Enter');
  await expect(page.locator('[data-path="/labels/cost-center"]')).toHaveCount(0);
  await expect(newKey).toBeFocused();

  // The metrics filtered: a new page, on which the focus is back on the filter's button and
  // the update is said.
  await page.goto('/metrics');
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  await tabTo(page, page.getByRole('combobox', { name: 'Period' }));
  await page.keyboard.type('last 9');
  const show = page.getByRole('button', { name: 'Show' });
  await tabTo(page, show);
  await page.keyboard.press('Enter');
  await expect(page).toHaveURL(/days=90/);
  await expect(show).toBeFocused();
  await expect(announcer).toHaveText('Results updated');
});
