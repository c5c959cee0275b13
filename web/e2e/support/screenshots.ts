// Screenshots of the main pages for the docs (docs/screenshots/*.png), written only when
// PLUGBOARD_UPDATE_SCREENSHOTS=1: 1280×800, the light theme unless the test switched it.

import { mkdir } from "node:fs/promises";
import path from "node:path";
import { expect, type Page } from "@playwright/test";
import { REPO } from "./packages";

export const UPDATE_SCREENSHOTS = process.env.PLUGBOARD_UPDATE_SCREENSHOTS === "1";
const FOLDER = path.join(REPO, "docs", "screenshots");

export async function docScreenshot(page: Page, name: string): Promise<void> {
  if (!UPDATE_SCREENSHOTS) return;
  await expect(page.getByTestId("loading")).toHaveCount(0, { timeout: 15_000 }).catch(() => undefined);
  await mkdir(FOLDER, { recursive: true });
  await page.setViewportSize({ width: 1280, height: 800 });
  // From the top of the page, with nothing hovered or focused.
  await page.mouse.move(0, 0);
  await page.evaluate(() => {
    (document.activeElement as HTMLElement | null)?.blur();
    window.scrollTo(0, 0);
    document.getElementById("main")?.scrollTo(0, 0);
  });
  await page.screenshot({ path: path.join(FOLDER, `${name}.png`), animations: "disabled", caret: "hide" });
}
