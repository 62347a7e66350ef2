// The VS Code webview components the pages use, and only those (the library's prebuilt bundle
// defines all of them: twice the script). Each page's bundle imports this first, so a page is one
// script: one request fewer through the webview's service worker before the page's load event,
// which is when VS Code shows the page and hands it the messages waiting for it.
// test/unit/host/elements.test.ts checks that every element the pages create is imported here.
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-checkbox/index.js';
import '@vscode-elements/elements/dist/vscode-option/index.js';
import '@vscode-elements/elements/dist/vscode-progress-bar/index.js';
import '@vscode-elements/elements/dist/vscode-progress-ring/index.js';
import '@vscode-elements/elements/dist/vscode-single-select/index.js';
import '@vscode-elements/elements/dist/vscode-tab-header/index.js';
import '@vscode-elements/elements/dist/vscode-tabs/index.js';
import '@vscode-elements/elements/dist/vscode-textfield/index.js';
