// Stands in for an in-editor agent in the real VS Code test (tests/lsp/test_vscode_e2e.py): one
// WorkspaceEdit, as other extensions apply them, that inserts at two places of todo.txt (neither at
// a cursor, with no typing, paste or completion) and rewrites a word of hidden.txt, a file no
// editor shows. VS Code does not tell other extensions who made an edit: this is all they see.
const vscode = require("vscode");

function activate(context) {
  context.subscriptions.push(
    vscode.commands.registerCommand("crowdcodeE2e.agentEdit", async () => {
      const folder = vscode.workspace.workspaceFolders[0].uri;
      const edit = new vscode.WorkspaceEdit();
      const todo = vscode.Uri.joinPath(folder, "todo.txt");
      edit.insert(todo, new vscode.Position(0, 0), "AGENT: ");
      edit.insert(todo, new vscode.Position(3, 0), "AGENT: ");
      edit.replace(vscode.Uri.joinPath(folder, "hidden.txt"), new vscode.Range(1, 0, 1, 5), "rewritten by the agent");
      if (!(await vscode.workspace.applyEdit(edit))) {
        throw new Error("the workspace edit was refused");
      }
    }),
  );
}

module.exports = { activate };
