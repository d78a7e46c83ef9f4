// A short session in code-server for the stop-by-signal tests: wait until the extension records,
// open a file, type a word, save, and leave (the test then signals code-server's process group).
// Usage: node record.js URL FILE_NAME PROFILE_DIR OUT_JSON
const fs = require("fs");
const { launch, untilRecording, openFile, statusLabel } = require("./page");

const [url, fileName, profileDir, outPath] = process.argv.slice(2);
const seen = { statusLabels: [], steps: [], views: [], tabs: [] };

(async () => {
  const { context, page } = await launch(profileDir);
  try {
    await page.goto(url);
    await untilRecording(page, seen);
    await openFile(page, seen, fileName);
    await page.locator(".editor-group-container.active .monaco-editor .view-lines").first().click();
    await page.keyboard.press("Control+End");
    await page.keyboard.type("saved", { delay: 40 });
    await page.keyboard.press("Control+S");
    await page.waitForTimeout(1_500);
    await statusLabel(page, seen);
    seen.steps.push("saved");
  } catch (error) {
    seen.error = String(error && error.stack ? error.stack : error);
  } finally {
    fs.writeFileSync(outPath, JSON.stringify(seen, null, 2));
    await context.close();
  }
})();
