/**
 * The app's side of the recipes: what each user has on today, how their week went, their
 * streak. A real app reads its own database here; this one keeps two users and a few tasks in
 * memory, so that the example runs as it is.
 *
 * Herald calls a content function with one batch of recipients whose schedule is due (up to
 * `scheduler.batchSize`, 500): `{ schedule, items, signal }`, each item `{ recipientId, runAt,
 * window: { from, to }, timezone }`. It answers per recipient id `{ data }` (what the recipe's
 * templates use, docs/recipes.md) or `{ skip: true }`; a recipient it leaves out is skipped
 * too, so "nothing today" is never sent by mistake. The same functions answer the data hook
 * in service use (hook.js).
 */

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const APP_URL = 'https://tasks.example.com';
const started = Date.now();

/** The app's users; they become Herald recipients (app.js). */
export const users = [
  { id: 'ann', name: 'Ann', email: 'ann@example.com', locale: 'en', timezone: 'Europe/London' },
  {
    id: 'jonas',
    name: 'Jonas',
    email: 'jonas@example.com',
    locale: 'de',
    timezone: 'Europe/Berlin',
  },
];

/** Standing appointments, by user (a calendar, in a real app). */
const routine = {
  ann: [
    { time: '09:30', title: 'Team stand-up' },
    { time: '13:00', title: 'Lunch with Grace' },
  ],
  jonas: [{ time: '08:45', title: 'Daily' }],
};

/**
 * Tasks, with the times the metrics and streaks are made of. Ann finished one on each of the
 * last five days, today included; Jonas yesterday and the day before, but not yet today.
 */
export const tasks = [
  { id: 't1', owner: 'ann', title: 'Quarterly report', createdAt: started - 3 * DAY },
  { id: 't2', owner: 'jonas', title: 'Steuererklärung', createdAt: started - 2 * DAY },
  ...[0, 1, 2, 3, 4].map((n) => ({
    id: `a${n}`,
    owner: 'ann',
    title: ['Book flights', 'Reply to Lin', 'Pay invoice', 'Water plants', 'Renew passport'][n],
    createdAt: started - (n + 2) * DAY,
    doneAt: started - n * DAY - 10 * 60_000,
  })),
  ...[1, 2].map((n) => ({
    id: `j${n}`,
    owner: 'jonas',
    title: n === 1 ? 'Fahrrad reparieren' : 'Miete überweisen',
    createdAt: started - 5 * DAY,
    doneAt: started - n * DAY,
  })),
];

const userOf = (id) => users.find((u) => u.id === id);
const tag = (locale) => (locale === 'de' ? 'de-DE' : 'en-GB');
const fmt = (user, options, at) =>
  new Intl.DateTimeFormat(tag(user.locale), { timeZone: user.timezone, ...options }).format(at);
/** The local calendar day of an instant, as YYYY-MM-DD. */
const dayKey = (at, timezone) =>
  new Intl.DateTimeFormat('en-CA', { timeZone: timezone, dateStyle: 'short' }).format(at);

/** The due time as the templates show it: "Friday 17:00", in the user's zone and language. */
export function dueText(user, dueAt) {
  return fmt(user, { weekday: 'long', hour: '2-digit', minute: '2-digit' }, dueAt);
}

/** The data of a task's due-date reminder (`due_date_reminder`; Herald adds `reminder`). */
export function reminderData(task) {
  const user = userOf(task.owner);
  return {
    task: { id: task.id, title: task.title, due: dueText(user, task.dueAt) },
    url: `${APP_URL}/tasks/${task.id}`,
  };
}

/** Answers each item of a batch with `answerOne(user, item)`; unknown ids are left out. */
const perRecipient =
  (answerOne) =>
  async ({ items }) => {
    const answers = {};
    for (const item of items) {
      const user = userOf(item.recipientId);
      if (user) answers[item.recipientId] = answerOne(user, item);
    }
    return answers;
  };

/** Days in a row, back from the run's day, with a task done (today counts once done). */
function streakOf(user, runAt) {
  const days = new Set(
    tasks
      .filter((t) => t.owner === user.id && t.doneAt)
      .map((t) => dayKey(t.doneAt, user.timezone)),
  );
  let at = days.has(dayKey(runAt, user.timezone)) ? runAt.getTime() : runAt.getTime() - DAY;
  let streak = 0;
  while (days.has(dayKey(at, user.timezone))) {
    streak += 1;
    at -= DAY;
  }
  return streak;
}

/** The content functions, by schedule name: `builtinHandlers(herald, { content })`. */
export const content = {
  /** Each morning: the day's appointments and the tasks due that day. */
  daily_briefing: perRecipient((user, { runAt }) => {
    const today = dayKey(runAt, user.timezone);
    const due = tasks
      .filter((t) => t.owner === user.id && !t.doneAt && t.dueAt)
      .filter((t) => dayKey(t.dueAt, user.timezone) === today)
      .map((t) => ({
        time: fmt(user, { timeStyle: 'short' }, t.dueAt),
        title: t.title,
        due: true,
      }));
    const items = [...(routine[user.id] ?? []), ...due].sort((a, b) =>
      a.time.localeCompare(b.time),
    );
    if (items.length === 0) return { skip: true }; // nothing planned: no briefing
    return {
      data: {
        date: fmt(user, { weekday: 'long', day: 'numeric', month: 'long' }, runAt),
        count: items.length,
        items,
        url: `${APP_URL}/today`,
      },
    };
  }),

  /** Once a week: what happened since the previous summary (the run's window). */
  weekly_summary: perRecipient((user, { window }) => {
    const from = window.from.getTime();
    const to = window.to.getTime();
    const mine = tasks.filter((t) => t.owner === user.id);
    const done = mine.filter((t) => t.doneAt >= from && t.doneAt < to);
    const day = { day: 'numeric', month: 'short' };
    return {
      data: {
        week: `${fmt(user, day, window.from)} – ${fmt(user, day, window.to)}`,
        metrics: {
          completed: done.length,
          created: mine.filter((t) => t.createdAt >= from && t.createdAt < to).length,
          overdue: mine.filter((t) => !t.doneAt && t.dueAt && t.dueAt < to).length,
        },
        done: done.slice(0, 5).map((t) => t.title),
        url: `${APP_URL}/week`,
      },
    };
  }),

  /** Each evening: celebrate a streak, or nudge to keep it; nothing without one. */
  achievement_nudge: perRecipient((user, { runAt }) => {
    const streak = streakOf(user, runAt);
    if (streak === 0) return { skip: true };
    const today = dayKey(runAt, user.timezone);
    const doneToday = tasks.filter(
      (t) => t.owner === user.id && t.doneAt && dayKey(t.doneAt, user.timezone) === today,
    ).length;
    const milestones = { 7: 'A full week', 30: 'A month in a row', 100: 'One hundred days' };
    return {
      data: {
        streak,
        doneToday,
        ...(milestones[streak] ? { achievement: milestones[streak] } : {}),
        url: `${APP_URL}/progress`,
      },
    };
  }),
};
