// A short session in code-server for the stop-by-signal tests: wait until the extension records,
// open a file, type a word, save, and leave (the test then signals code-server's process group).
// Usage: node record.js URL FILE_NAME PROFILE_DIR OUT_JSON
const { session, openFile, statusLabel } = require("./page");

const [url, fileName, profileDir, outPath] = process.argv.slice(2);
const seen = { statusLabels: [], steps: [], views: [], tabs: [] };

session(url, profileDir, outPath, seen, async (page) => {
  await openFile(page, seen, fileName);
  await page.locator(".editor-group-container.active .monaco-editor .view-lines").first().click();
  await page.keyboard.press("Control+End");
  await page.keyboard.type("saved", { delay: 40 });
  await page.keyboard.press("Control+S");
  await page.waitForTimeout(1_500);
  await statusLabel(page, seen);
  seen.steps.push("saved");
});
