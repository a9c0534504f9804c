// Styles of the editor overlay, scoped under .choreo-editor so nothing leaks into ComfyUI's own UI.

/** CSS text for a <style> element placed inside the overlay (removed with it). */
export const EDITOR_CSS = `
.choreo-editor { position: fixed; inset: 0; z-index: 10000; display: flex; flex-direction: column;
  background: #0d0e11; color: #e4e6eb; font: 13px/1.3 system-ui, sans-serif; }
.choreo-editor button, .choreo-editor select, .choreo-editor input { background: #23262d; color: #e4e6eb;
  border: 1px solid #3a3e47; border-radius: 4px; padding: 3px 8px; font: inherit; }
.choreo-editor button:hover { background: #2f333c; }
.choreo-editor button.on { background: #1d5f8a; border-color: #2f86c0; }
.choreo-editor .choreo-toolbar { display: flex; flex-wrap: wrap; gap: 6px; align-items: center; padding: 6px 10px;
  border-bottom: 1px solid #2a2d34; }
.choreo-editor .choreo-toolbar .sep { width: 1px; height: 20px; background: #3a3e47; margin: 0 4px; }
.choreo-editor .choreo-title { font-weight: 600; margin-right: 8px; }
.choreo-editor .choreo-frame { min-width: 220px; font-variant-numeric: tabular-nums; }
.choreo-editor .choreo-banner { display: none; padding: 6px 10px; background: #6b4a12; color: #fff; gap: 8px;
  align-items: center; }
.choreo-editor .choreo-banner.show { display: flex; }
.choreo-editor .choreo-message { display: none; margin: auto; max-width: 520px; padding: 20px; font-size: 15px;
  background: #1b1d22; border: 1px solid #3a3e47; border-radius: 6px; text-align: center; }
.choreo-editor .choreo-message.show { display: block; }
.choreo-editor .choreo-main { flex: 1; display: flex; min-height: 0; }
.choreo-editor .choreo-stage { flex: 1; display: flex; align-items: center; justify-content: center; min-width: 0;
  overflow: hidden; }
.choreo-editor .choreo-stage canvas { background: #000; box-shadow: 0 0 0 1px #2a2d34; touch-action: none; }
.choreo-editor .choreo-side { width: 220px; padding: 8px; border-left: 1px solid #2a2d34; display: flex;
  flex-direction: column; gap: 6px; overflow: auto; }
.choreo-editor .choreo-library { display: flex; flex-direction: column; gap: 6px; }
.choreo-editor .choreo-library h4 { margin: 4px 0; }
.choreo-editor .choreo-help { color: #9aa0aa; font-size: 12px; white-space: pre-line; }
.choreo-editor .choreo-timeline { height: 130px; width: 100%; display: block; border-top: 1px solid #2a2d34;
  touch-action: none; }
.choreo-editor .choreo-keymenu { position: absolute; z-index: 1; display: flex; flex-direction: column; gap: 2px;
  min-width: 140px; padding: 4px; background: #1b1d22; border: 1px solid #3a3e47; border-radius: 6px;
  box-shadow: 0 4px 16px rgba(0,0,0,0.5); }
.choreo-editor .choreo-keymenu .title { padding: 2px 6px 4px; color: #9aa0aa; font-size: 12px; }
.choreo-editor .choreo-keymenu button { text-align: left; border-color: transparent; }
.choreo-editor .choreo-keymenu button.on::before { content: "✓ "; }
.choreo-editor .choreo-status { padding: 4px 10px; color: #aab; min-height: 18px; border-top: 1px solid #2a2d34; }
`;
