"use strict";

const ENTITIES = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

function escapeHtml(value) {
  return String(value).replace(/[&<>"']/g, (ch) => ENTITIES[ch]);
}

function renderList(items) {
  const rows = items.map((item) => `<li>${escapeHtml(item)}</li>`);
  return `<ul>${rows.join("")}</ul>`;
}

module.exports = { escapeHtml, renderList };
