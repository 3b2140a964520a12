// Copies the chart library from node_modules (installed by `npm ci` from
// package-lock.json) into static/vendor/, which the Go binary embeds.
import { copyFileSync, mkdirSync } from "node:fs";
const out = new URL("./static/vendor/", import.meta.url);
mkdirSync(out, { recursive: true });
for (const f of ["uPlot.iife.min.js", "uPlot.min.css"]) {
  copyFileSync(new URL("./node_modules/uplot/dist/" + f, import.meta.url), new URL(f, out));
}
console.log("web: static/vendor/ uPlot.iife.min.js, uPlot.min.css");
