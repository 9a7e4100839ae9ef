import { mount } from "svelte";
import App from "./App.svelte";
import "./app.css";

function showFatal(message: string) {
  // Never a blank screen: whatever broke, say it.
  const el = document.getElementById("fatal") ?? document.body.appendChild(document.createElement("pre"));
  el.id = "fatal";
  el.textContent = `Argus hit an error:\n${message}`;
}

window.addEventListener("error", (e) => showFatal(String(e.error ?? e.message)));
window.addEventListener("unhandledrejection", (e) => showFatal(String((e.reason as { message?: string })?.message ?? e.reason)));

const target = document.getElementById("app");
if (target) {
  try {
    mount(App, { target });
  } catch (e) {
    showFatal(String(e));
  }
}
