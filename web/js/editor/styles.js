// Styles of the editor overlay, scoped under .choreo-editor so nothing leaks into ComfyUI's own UI. Colours
// and font come from the frontend's CSS variables (with fallbacks for older frontends and the test fixture),
// so the editor looks like ComfyUI's own panels in light and dark themes.

/** CSS text for a <style> element placed inside the overlay (removed with it). */
export const EDITOR_CSS = `
.choreo-editor { position: fixed; inset: 0; z-index: 10000; display: flex; flex-direction: column;
  --ce-bg: var(--bg-color, #202020); --ce-panel: var(--comfy-menu-bg, #353535);
  --ce-input: var(--comfy-input-bg, #222); --ce-fg: var(--input-text, var(--fg-color, #ddd));
  --ce-muted: var(--descrip-text, #999); --ce-border: var(--border-color, #4e4e4e);
  --ce-hover: var(--content-hover-bg, #444); --ce-accent: var(--p-primary-color, #2f86c0);
  background: var(--ce-bg); color: var(--ce-fg); font-family: var(--comfy-font-family, inherit); font-size: 13px;
  line-height: 1.3; }
.choreo-editor button, .choreo-editor select { background: var(--ce-input); color: var(--ce-fg);
  border: 1px solid var(--ce-border); border-radius: 6px; padding: 3px 8px; font: inherit; cursor: pointer; }
.choreo-editor .choreo-toolbar button, .choreo-editor .choreo-toolbar select { height: 28px; box-sizing: border-box; }
.choreo-editor button:hover { background: var(--ce-hover); }
.choreo-editor button:focus-visible, .choreo-editor select:focus-visible { outline: 2px solid var(--ce-accent);
  outline-offset: 1px; }
.choreo-editor button.on { background: color-mix(in srgb, var(--ce-accent) 45%, var(--ce-input));
  border-color: var(--ce-accent); }
.choreo-editor button.icon { width: 28px; padding: 0; display: inline-flex; align-items: center;
  justify-content: center; flex: none; }
.choreo-editor button.icon svg { width: 16px; height: 16px; fill: none; stroke: currentColor; stroke-width: 2;
  stroke-linecap: round; stroke-linejoin: round; }
.choreo-editor button[data-act="play"] svg path { fill: currentColor; stroke: none; }
.choreo-editor .choreo-toolbar { display: flex; flex-wrap: nowrap; gap: 4px; align-items: center; padding: 5px 8px;
  background: var(--ce-panel); border-bottom: 1px solid var(--ce-border); white-space: nowrap; overflow: hidden;
  flex: none; }
.choreo-editor .choreo-toolbar > * { flex: none; }
.choreo-editor .choreo-toolbar .sep { width: 1px; height: 20px; background: var(--ce-border); margin: 0 3px; }
.choreo-editor .choreo-toolbar .spacer { flex: 1 1 auto; }
.choreo-editor .choreo-group { display: inline-flex; }
.choreo-editor .choreo-group button:first-child { border-radius: 6px 0 0 6px; }
.choreo-editor .choreo-group button:last-child { border-radius: 0 6px 6px 0; border-left: none; }
.choreo-editor .choreo-ease { display: inline-flex; align-items: center; gap: 4px; color: var(--ce-muted); }
.choreo-editor .choreo-title { font-weight: 600; margin: 0 6px 0 2px; }
.choreo-editor .choreo-frame { width: 37ch; overflow: hidden; text-overflow: ellipsis; padding: 0 6px;
  font-variant-numeric: tabular-nums; color: var(--ce-fg); }
.choreo-editor .choreo-banner { display: none; padding: 6px 10px; background: #6b4a12; color: #fff; gap: 8px;
  align-items: center; flex: none; }
.choreo-editor .choreo-banner.show { display: flex; }
.choreo-editor .choreo-message { display: none; margin: auto; max-width: 520px; padding: 20px; font-size: 15px;
  background: var(--ce-panel); border: 1px solid var(--ce-border); border-radius: 8px; text-align: center; }
.choreo-editor .choreo-message.show { display: block; }
.choreo-editor .choreo-main { flex: 1; display: flex; min-height: 0; }
.choreo-editor .choreo-stage { flex: 1; position: relative; min-width: 0; overflow: hidden; }
.choreo-editor .choreo-stage canvas { display: block; width: 100%; height: 100%; touch-action: none; }
.choreo-editor .choreo-help { display: none; position: absolute; top: 8px; right: 8px; width: 340px;
  max-height: calc(100% - 16px); overflow: auto; padding: 8px 12px; box-sizing: border-box; font-size: 12px;
  background: var(--ce-panel); border: 1px solid var(--ce-border); border-radius: 8px;
  box-shadow: 0 4px 16px rgba(0,0,0,0.5); }
.choreo-editor .choreo-help.show { display: block; }
.choreo-editor .choreo-help h4 { margin: 6px 0 2px; font-size: 12px; }
.choreo-editor .choreo-help p { margin: 0 0 4px; color: var(--ce-muted); }
.choreo-editor .choreo-side { width: 200px; padding: 8px; background: var(--ce-panel);
  border-left: 1px solid var(--ce-border); display: flex; flex-direction: column; gap: 6px; overflow: auto; }
.choreo-editor .choreo-library { display: flex; flex-direction: column; gap: 6px; }
.choreo-editor .choreo-library h4 { margin: 4px 0; }
.choreo-editor .choreo-library input { background: var(--ce-input); color: var(--ce-fg);
  border: 1px solid var(--ce-border); border-radius: 6px; padding: 3px 6px; font: inherit; }
.choreo-editor .choreo-timeline { height: 130px; width: 100%; display: block; border-top: 1px solid var(--ce-border);
  touch-action: none; flex: none; }
.choreo-editor .choreo-keymenu { position: absolute; z-index: 1; display: flex; flex-direction: column; gap: 2px;
  min-width: 140px; padding: 4px; background: var(--ce-panel); border: 1px solid var(--ce-border); border-radius: 8px;
  box-shadow: 0 4px 16px rgba(0,0,0,0.5); }
.choreo-editor .choreo-keymenu .title { padding: 2px 6px 4px; color: var(--ce-muted); font-size: 12px; }
.choreo-editor .choreo-keymenu button { text-align: left; border-color: transparent; }
.choreo-editor .choreo-keymenu button.on::before { content: "✓ "; }
.choreo-editor .choreo-status { padding: 4px 10px; color: var(--ce-muted); min-height: 18px; flex: none;
  background: var(--ce-panel); border-top: 1px solid var(--ce-border); }
`;
