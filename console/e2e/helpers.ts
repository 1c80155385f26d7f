import { expect, type APIRequestContext, type Browser, type Page } from "@playwright/test";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

export const SHOTS = join(process.env.CONSOLE_ARTIFACTS ?? "artifacts", "screenshots");
mkdirSync(SHOTS, { recursive: true });

/** A new browser context signed in through the sign-in page's persona button. */
export async function signInAs(browser: Browser, subject: string, width = 1280): Promise<Page> {
  const context = await browser.newContext({ viewport: { width, height: width < 600 ? 844 : 900 } });
  const page = await context.newPage();
  await page.goto("/");
  await page.getByTestId(`persona-${subject}`).click();
  await expect(page.getByTestId("signed-in-as")).toContainText(subject);
  return page;
}

export async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

export async function token(request: APIRequestContext, subject: string, roles: string[], team?: string): Promise<string> {
  const resp = await request.post("/api/dev/token", { data: { subject, roles, team } });
  expect(resp.ok()).toBeTruthy();
  return ((await resp.json()) as { token: string }).token;
}

/** Fields without an accessible name (label, aria-label or aria-labelledby). */
export async function unlabelledFields(page: Page): Promise<string[]> {
  return page.evaluate(() => [...document.querySelectorAll("input, select, textarea")]
    .filter((el) => (el as HTMLInputElement).type !== "hidden")
    .filter((el) => !((el as HTMLInputElement).labels?.length || el.getAttribute("aria-label") || el.getAttribute("aria-labelledby")))
    .map((el) => el.outerHTML.slice(0, 120)));
}

/** True when the page scrolls sideways at its viewport width (not readable on a phone). */
export async function overflowsSideways(page: Page): Promise<boolean> {
  return page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth + 1);
}
