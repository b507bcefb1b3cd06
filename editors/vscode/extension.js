// Starts `capc lsp` for .cap files. Highlighting works without it (the
// TextMate grammar in syntaxes/); set `capc.path` to "" to turn the server off.
const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const command = vscode.workspace.getConfiguration("capc").get("path", "capc");
  if (!command) {
    return;
  }
  client = new LanguageClient(
    "capc",
    "capc",
    { command, args: ["lsp"] },
    { documentSelector: [{ scheme: "file", language: "cap" }] }
  );
  context.subscriptions.push(client);
  client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
