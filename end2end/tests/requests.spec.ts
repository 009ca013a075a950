// A request from form to Git in a real browser: submit an offering form, land on the
// request page, watch it go from Submitted to Committed (the Git writer commits to the
// portal's bare repository in the background), see the commit in the timeline and the
// request in the team's list; then day-2: edit the claim from its values in Git, and delete it.
import { test, expect } from './fixtures';

test('a developer submits a form and follows the request until it is committed to Git', async ({ page }) => {
  await page.goto('/login');
  await page.getByRole('button', { name: 'Continue as Alice Archer' }).click();
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');

  await page.goto('/catalog/postgresql');
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  await page.getByLabel('Name').fill('invoices-db');
  await page.getByLabel('Storage (GiB)').fill('40');

  // A refused submission stays on the form with the reason at the field.
  await page.getByLabel('Storage (GiB)').fill('5000');
  await page.getByTestId('submit-request').click();
  await expect(page.getByTestId('submit-error')).toContainText('Not submitted');
  await expect(page).toHaveURL(/\/catalog\/postgresql$/);
  await page.getByLabel('Storage (GiB)').fill('40');

  await page.getByTestId('submit-request').click();
  await expect(page).toHaveURL(/\/requests\/[0-9a-f-]{36}$/);
  await expect(page.getByRole('heading', { level: 1 })).toContainText('Create PostgreSQLInstance team-a/invoices-db');
  await expect(page.getByTestId('request-path')).toHaveText('dev/team-a/postgresqlinstance/invoices-db.yaml');

  // The page follows the writer without a reload.
  await expect(page.getByTestId('stage').first()).toHaveAttribute('data-stage', 'committed');
  const timeline = page.getByTestId('timeline');
  await expect(timeline.getByTestId('event')).toHaveCount(2);
  await expect(timeline.locator('[data-kind="submitted"]')).toContainText('Alice Archer');
  await expect(timeline.locator('[data-kind="committed"]')).toContainText(/Committed [0-9a-f]{12}/);

  await page.goto('/requests');
  const row = page.getByTestId('requests-table').locator('tr', { hasText: 'invoices-db' });
  await expect(row).toContainText('team-a');
  await expect(row.getByTestId('stage')).toHaveText('Committed');
  await row.getByRole('link').click();
  await expect(page.getByTestId('request-path')).toBeVisible();
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');

  // Day-2: the form opens with the values the file in Git holds; name, team and environment stay.
  await page.getByTestId('edit-claim').click();
  await expect(page.getByTestId('editing')).toContainText('dev/team-a/postgresqlinstance/invoices-db.yaml');
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  await expect(page.getByLabel('Storage (GiB)')).toHaveValue('40');
  await expect(page.getByLabel('Name')).toBeDisabled();
  await page.getByLabel('Storage (GiB)').fill('60');
  await page.getByRole('button', { name: 'Submit change' }).click();
  await expect(page.getByRole('heading', { level: 1 })).toContainText('Update PostgreSQLInstance team-a/invoices-db');
  await expect(page.getByTestId('stage').first()).toHaveAttribute('data-stage', 'committed');

  // Delete, confirmed, is a request of its own.
  await page.getByTestId('delete-claim').click();
  await page.getByTestId('confirm-delete').click();
  await expect(page.getByRole('heading', { level: 1 })).toContainText('Delete PostgreSQLInstance team-a/invoices-db');
  await expect(page.getByTestId('stage').first()).toHaveAttribute('data-stage', 'committed');
  await expect(page.getByTestId('edit-claim')).toHaveCount(0);
});
