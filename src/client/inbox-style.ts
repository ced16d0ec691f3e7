/**
 * The look of `<herald-inbox>`: every color, the font, the radius and the panel's size come
 * from CSS custom properties set on the element (or any ancestor), so a page themes it without
 * reaching into the shadow DOM; `::part()` names (bell, badge, panel, item...) go further.
 * docs/realtime-client.md lists them.
 */
export const INBOX_CSS = `
:host {
  --_accent: var(--herald-accent, #2563eb);
  --_bg: var(--herald-bg, #ffffff);
  --_fg: var(--herald-fg, #111827);
  --_muted: var(--herald-muted, #6b7280);
  --_border: var(--herald-border, #e5e7eb);
  --_radius: var(--herald-radius, 8px);
  --_unread-bg: var(--herald-unread-bg, rgba(37, 99, 235, 0.07));
  --_badge-fg: var(--herald-badge-fg, #ffffff);
  display: inline-block;
  position: relative;
  font-family: var(--herald-font, inherit);
  font-size: var(--herald-font-size, 14px);
  color: var(--_fg);
}
[hidden] { display: none !important; }
button, a { font: inherit; color: inherit; }
:focus-visible { outline: 2px solid var(--_accent); outline-offset: 2px; }
.bell {
  position: relative;
  display: inline-flex;
  align-items: center;
  justify-content: center;
  width: var(--herald-bell-size, 40px);
  height: var(--herald-bell-size, 40px);
  padding: 0;
  border: 0;
  border-radius: 50%;
  background: transparent;
  color: var(--herald-bell-color, currentColor);
  cursor: pointer;
}
.bell:hover { background: var(--_unread-bg); }
.bell svg { width: 60%; height: 60%; }
.badge {
  position: absolute;
  top: 2px;
  right: 2px;
  min-width: 18px;
  height: 18px;
  padding: 0 5px;
  box-sizing: border-box;
  border-radius: 9px;
  background: var(--_accent);
  color: var(--_badge-fg);
  font-size: 11px;
  font-weight: 600;
  line-height: 18px;
  text-align: center;
}
.panel {
  position: absolute;
  top: calc(100% + 6px);
  right: 0;
  z-index: var(--herald-z-index, 1000);
  width: var(--herald-panel-width, 360px);
  max-width: calc(100vw - 16px);
  display: flex;
  flex-direction: column;
  max-height: var(--herald-panel-max-height, 480px);
  background: var(--_bg);
  color: var(--_fg);
  border: 1px solid var(--_border);
  border-radius: var(--_radius);
  box-shadow: var(--herald-shadow, 0 10px 30px rgba(0, 0, 0, 0.15));
  overflow: hidden;
}
header {
  display: flex;
  align-items: center;
  justify-content: space-between;
  padding: 10px 14px;
  border-bottom: 1px solid var(--_border);
}
h2 { margin: 0; font-size: 1em; font-weight: 600; }
.all {
  border: 0;
  background: none;
  color: var(--_accent);
  cursor: pointer;
  padding: 4px 6px;
  border-radius: calc(var(--_radius) / 2);
}
.all:disabled { color: var(--_muted); cursor: default; }
.scroll { overflow-y: auto; flex: 1; }
.list { list-style: none; margin: 0; padding: 0; }
.list li + li { border-top: 1px solid var(--_border); }
.item {
  display: grid;
  grid-template-columns: 10px 1fr;
  gap: 4px 10px;
  width: 100%;
  box-sizing: border-box;
  padding: 10px 14px;
  border: 0;
  background: none;
  text-align: left;
  text-decoration: none;
  cursor: pointer;
}
.item:hover { background: var(--_unread-bg); }
.item.unread { background: var(--_unread-bg); }
.dot { width: 8px; height: 8px; margin-top: 6px; border-radius: 50%; }
.unread .dot { background: var(--_accent); }
.title { font-weight: 600; }
.read .title { font-weight: 400; }
.body, .time { grid-column: 2; color: var(--_muted); }
.time { font-size: 0.85em; }
.empty, .note { margin: 0; padding: 24px 14px; text-align: center; color: var(--_muted); }
.note { padding: 8px 14px; font-size: 0.85em; }
.sentinel { height: 1px; }
.sr {
  position: absolute;
  width: 1px;
  height: 1px;
  overflow: hidden;
  clip: rect(0 0 0 0);
  white-space: nowrap;
}
`;
