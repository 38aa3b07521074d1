#!/usr/bin/env node
// Writes dist/plots_template.html: a DVC plots HTML template with vega, vega-lite and vega-embed
// inlined from node_modules (versions pinned in package-lock.json).
//
// Why: dvc-render's VegaRenderer injects <script src="https://cdn.jsdelivr.net/..."> tags through
// the template's {scripts} placeholder, so offline the page renders blank. This template leaves
// {scripts} out (so those CDN tags are dropped) and carries the libraries itself, which also keeps
// the generated page self-contained wherever `dvc plots show -o DIR` writes it.
// .dvc/config points `plots.html_template` here. Runs on `npm ci` (postinstall) or `npm run build`.
"use strict";
const fs = require("fs");
const path = require("path");

const LIBS = ["vega/build/vega.min.js", "vega-lite/build/vega-lite.min.js", "vega-embed/build/vega-embed.min.js"];
const OUT = path.join(__dirname, "dist", "plots_template.html");
// dvc-render fills the template with plain str.replace on these, so the libraries must not contain them.
const PLACEHOLDERS = ["{scripts}", "{plot_divs}", "{refresh_tag}"];

function inlineScript(rel) {
  const pkg = rel.split("/")[0];
  // Plain paths: the packages' "exports" maps do not expose build/*.min.js to require.resolve.
  const file = path.join(__dirname, "node_modules", rel);
  const version = JSON.parse(fs.readFileSync(path.join(__dirname, "node_modules", pkg, "package.json"))).version;
  // "</script" would end the inline <script> element early; "<\/script" means the same in JS strings.
  const code = fs.readFileSync(file, "utf8").replace(/<\/(script)/gi, "<\\/$1");
  for (const bad of [...PLACEHOLDERS, "<!--"]) {
    if (code.includes(bad)) throw new Error(`${rel} contains ${JSON.stringify(bad)}; cannot inline it safely`);
  }
  return `<script data-lib="${pkg}@${version}">\n${code}\n</script>`;
}

// Same page as dvc-render's default PAGE_HTML, minus {scripts}.
const page = `<!DOCTYPE html>
<html>
<head>
    <meta charset="utf-8">
    {refresh_tag}
    <title>DVC Plot</title>
    ${LIBS.map(inlineScript).join("\n")}
    <style>
        table {
            border-spacing: 15px;
        }
    </style>
</head>
<body>
    {plot_divs}
</body>
</html>
`;

fs.mkdirSync(path.dirname(OUT), { recursive: true });
fs.writeFileSync(OUT, page);
console.log(`wrote ${path.relative(process.cwd(), OUT)} (${Math.round(page.length / 1024)} KiB)`);
