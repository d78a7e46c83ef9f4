// Drives code-server in headless Chromium like a person: open a file, type, select, undo, wait,
// panic, save. Usage: node drive.js URL FILE_NAME PROFILE_DIR OUT_JSON
// Writes what it saw (status bar labels, notifications) to OUT_JSON for the Python test to check.
const fs = require("fs");
const { chromium } = require("playwright-core");

const [url, fileName, profileDir, outPath] = process.argv.slice(2);
const seen = { statusLabels: [], notifications: [], steps: [] };

async function statusLabel(page) {
  const item = page.locator('[aria-label^="crowdcode:"]').first();
  await item.waitFor({ timeout: 60_000 });
  const label = await item.getAttribute("aria-label");
  seen.statusLabels.push(label);
  return label;
}

async function runCommand(page, title) {
  await page.keyboard.press("F1");
  await page.waitForSelector(".quick-input-widget", { state: "visible" });
  await page.keyboard.type(title);
  await page.waitForTimeout(500);
  await page.keyboard.press("Enter");
}

(async () => {
  const context = await chromium.launchPersistentContext(profileDir, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    viewport: { width: 1400, height: 900 },
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  try {
    await page.goto(url);
    await page.waitForSelector(".monaco-workbench", { timeout: 90_000 });
    seen.steps.push("workbench");
    await page.waitForSelector('[aria-label^="crowdcode: recording"]', { timeout: 90_000 });
    await statusLabel(page);
    seen.steps.push("recording");

    await page.keyboard.press("Control+P");
    await page.waitForSelector(".quick-input-widget", { state: "visible" });
    await page.keyboard.type(fileName);
    await page.waitForTimeout(800);
    await page.keyboard.press("Enter");
    await page.waitForSelector(".monaco-editor .view-lines", { timeout: 30_000 });
    await page.locator(".monaco-editor .view-lines").first().click();
    await page.keyboard.press("Control+End");
    seen.steps.push("opened");

    await page.keyboard.type("hello é🎉 world", { delay: 40 });
    await page.keyboard.press("Enter");
    await page.keyboard.type("second line", { delay: 40 });
    await page.waitForTimeout(400);
    await page.keyboard.press("Shift+Home"); // select "second line"
    await page.waitForTimeout(600);
    await page.keyboard.press("End");
    await page.keyboard.type(" typo", { delay: 40 });
    await page.waitForTimeout(400);
    await page.keyboard.press("Control+Z");
    await page.waitForTimeout(600);
    seen.steps.push("edited");

    // Panic removes the last 10 s: wait longer than that, so that the edits above survive it.
    await page.waitForTimeout(11_500);
    await runCommand(page, "crowdcode: Panic");
    const toast = page.locator(".notifications-toasts .notification-list-item-message", { hasText: "removed" });
    await toast.first().waitFor({ timeout: 15_000 });
    seen.notifications.push(await toast.first().innerText());
    seen.steps.push("panic");

    await page.locator(".monaco-editor .view-lines").first().click();
    await page.keyboard.press("Control+End");
    await page.keyboard.type("!", { delay: 40 });
    await page.keyboard.press("Control+S");
    await page.waitForTimeout(2_000);
    await statusLabel(page);
    seen.steps.push("saved");

    // A command in the integrated terminal (bash, with VS Code's shell integration).
    await runCommand(page, "Terminal: Create New Terminal");
    await page.waitForSelector(".terminal-wrapper .xterm", { timeout: 30_000 });
    await page.waitForTimeout(4_000); // the shell starts and reports its integration
    await page.keyboard.type("echo crowdcode-e2e; (exit 3)", { delay: 20 });
    await page.keyboard.press("Enter");
    await page.waitForTimeout(3_000);
    seen.steps.push("terminal");
    await page.screenshot({ path: outPath.replace(/\.json$/, ".png") });
  } catch (error) {
    seen.error = String(error && error.stack ? error.stack : error);
    seen.statusBar = await page.locator(".statusbar-item [aria-label]").evaluateAll((items) => items.map((i) => i.getAttribute("aria-label"))).catch(() => []);
    seen.toasts = await page.locator(".notification-list-item-message").allInnerTexts().catch(() => []);
    await page.screenshot({ path: outPath.replace(/\.json$/, ".png") }).catch(() => {});
  } finally {
    fs.writeFileSync(outPath, JSON.stringify(seen, null, 2));
    await context.close();
  }
})();
