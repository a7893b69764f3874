// The ticket rules, exactly as the ticket API applies them
// (lambdas/tickets/src/model.rs): the browser says what is wrong before a
// request is sent, in the API's own words, and the API stays the judge.

export const DESCRIPTION_MIN_CHARS = 10;
export const DESCRIPTION_MAX_CHARS = 2000;
export const PRIORITIES = ["low", "medium", "high"];
export const CATEGORIES = ["account", "billing", "driver", "ride", "app", "safety", "other"];

// Rust's str::trim strips the Unicode White_Space property; JavaScript's
// String.prototype.trim also strips U+FEFF, which Rust keeps.
const EDGES = /^\p{White_Space}+|\p{White_Space}+$/gu;

/** The description as the API stores it. */
export function cleanDescription(text) {
  return String(text).replace(EDGES, "");
}

/** Characters as the API counts them: Unicode scalar values. */
export function countChars(text) {
  return [...text].length;
}

/**
 * Checks a new ticket. Returns `{ ok: true, ticket }` with the body to send,
 * or `{ ok: false, field, message }` for the first rule broken, in the
 * order the API checks them.
 */
export function validateTicket({ description, priority, category }) {
  const clean = cleanDescription(description ?? "");
  const chars = countChars(clean);
  if (chars < DESCRIPTION_MIN_CHARS || chars > DESCRIPTION_MAX_CHARS) {
    return {
      ok: false,
      field: "description",
      message: `description must be ${DESCRIPTION_MIN_CHARS} to ${DESCRIPTION_MAX_CHARS} characters, got ${chars}`,
    };
  }
  if (!PRIORITIES.includes(priority)) {
    return { ok: false, field: "priority", message: `priority must be one of ${PRIORITIES.join(", ")}` };
  }
  if (category && !CATEGORIES.includes(category)) {
    return { ok: false, field: "category", message: `category must be one of ${CATEGORIES.join(", ")}` };
  }
  const ticket = { description: clean, priority };
  if (category) ticket.category = category;
  return { ok: true, ticket };
}
