import { describe, expect, it } from "vitest";
import { openWorkspace, samPreview } from "./fixtures";
import { frameBase, initialState, previewUrl, toggle, viewUrl } from "./state";
import { previewed, samClick, showCandidate } from "./tools";

describe("workspace state", () => {
  it("frames come from the loopback server when it runs, unless the scheme is asked for", () => {
    const ws = initialState();
    expect(frameBase(ws, "frame://localhost/")).toBe("frame://localhost/");
    ws.serverBase = "http://127.0.0.1:9/tok/";
    expect(frameBase(ws, "frame://localhost/")).toBe("http://127.0.0.1:9/tok/");
    ws.transport = "scheme";
    expect(frameBase(ws, "frame://localhost/")).toBe("frame://localhost/");
  });

  it("the view URL carries the selection, hidden objects and a revision", () => {
    expect(viewUrl(initialState(), "b/")).toBe("");
    const ws = openWorkspace(7);
    expect(viewUrl(ws, "b/")).toBe("b/video-1/7?rev=0&ahead=1");
    ws.selectedTrack = "t1";
    ws.hidden = ["t2", "t3"];
    ws.revision = 2;
    expect(viewUrl(ws, "b/")).toBe("b/video-1/7?sel=t1&hide=t2%2Ct3&rev=2&ahead=1");
  });

  it("the SAM candidate is a layer of its own on its frame only, and a new prediction changes it", () => {
    const ws = openWorkspace(7);
    expect(previewUrl(ws, "b/")).toBe("");
    ws.tools = showCandidate(previewed(samClick(ws.tools, 1, 1, true)!, samPreview(7, 3)), 2);
    expect(previewUrl(ws, "b/")).toBe("b/video-1/7/preview?preview=2&rev=3");
    // The frame under it is not fetched again for a click.
    expect(viewUrl(ws, "b/")).toBe("b/video-1/7?rev=0&ahead=1");
    ws.tools = previewed(ws.tools, samPreview(7, 4));
    expect(previewUrl(ws, "b/")).toBe("b/video-1/7/preview?preview=0&rev=4");
    ws.frame = 8;
    expect(previewUrl(ws, "b/")).toBe("");
    expect(viewUrl(ws, "b/")).toBe("b/video-1/8?rev=0&ahead=1");
  });

  it("toggle adds or removes an id; no selection changes nothing", () => {
    const list = ["a"];
    expect(toggle(list, "b")).toEqual(["a", "b"]);
    expect(toggle(list, "a")).toEqual([]);
    expect(toggle(list, null)).toBe(list);
    expect(list).toEqual(["a"]);
  });
});
