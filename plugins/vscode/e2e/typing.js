// Typing latency in code-server: the time from a key's keydown to the editor's DOM change, per key.
// Usage: node typing.js URL FILE_NAME PROFILE_DIR OUT_JSON KEYS
// Keys are pressed at a typist's pace (one every 40 ms) into FILE_NAME; writes the latencies (ms).
const fs = require("fs");
const { chromium } = require("playwright-core");

const [url, fileName, profileDir, outPath, keys] = process.argv.slice(2);
const TEXT = "the quick brown fox jumps over the lazy dog 0123456789 ";

(async () => {
  const context = await chromium.launchPersistentContext(profileDir, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    viewport: { width: 1400, height: 900 },
    args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-dev-shm-usage"],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const result = {};
  try {
    await page.goto(url);
    await page.waitForSelector(".monaco-workbench", { timeout: 90_000 });
    await page.waitForTimeout(5_000); // extensions activate (the recorder starts its session)
    await page.keyboard.press("Control+P");
    await page.waitForSelector(".quick-input-widget", { state: "visible" });
    await page.keyboard.type(fileName);
    // Enter only once the file search has found it (it may still be indexing the folder).
    await page.locator(".quick-input-list .monaco-list-row", { hasText: fileName }).first().waitFor({ timeout: 30_000 });
    await page.keyboard.press("Enter");
    const lines = page.locator(".editor-group-container.active .monaco-editor .view-lines").first();
    await lines.waitFor({ timeout: 30_000 });
    await lines.click();
    await page.keyboard.press("Control+End");
    await page.waitForTimeout(2_000);
    await page.evaluate(() => {
      const target = document.querySelector(".editor-group-container.active .monaco-editor .view-lines");
      window.__latencies = [];
      let down = null;
      document.addEventListener("keydown", () => { down = performance.now(); }, true);
      new MutationObserver(() => {
        if (down !== null) {
          window.__latencies.push(performance.now() - down);
          down = null;
        }
      }).observe(target, { subtree: true, childList: true, characterData: true });
    });
    for (let i = 0; i < Number(keys); i++) {
      await page.keyboard.press(i % 60 === 59 ? "Enter" : TEXT[i % TEXT.length]);
      await page.waitForTimeout(40);
    }
    await page.waitForTimeout(500);
    result.latencies = await page.evaluate(() => window.__latencies);
  } catch (error) {
    result.error = String(error && error.stack ? error.stack : error);
  } finally {
    fs.writeFileSync(outPath, JSON.stringify(result));
    await context.close();
  }
})();
