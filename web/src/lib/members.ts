// Who works on a server project, and the invitations sent to the signed-in user: the Team
// dialog's Members and "Invitations for you" sections (components/MembersSection.svelte,
// MyInvitations.svelte). The lines they show, the add form's check, and each change as a run
// over a plain state object: the dialog makes the objects reactive; the tests hand them plain
// ones and a fake API.

import { errorMessage, type Api } from "./api";
import type { InvitationInfo, MyInvitation, PersonInfo, ProjectPeople } from "./bindings";

/** The roles of a project, least to most. */
export const PROJECT_ROLES = ["annotator", "reviewer", "lead"] as const;

/** The role select's options: the project's roles, and `current` too when the server answered
 *  one this page does not know (so the select still shows it). */
export function roleOptions(current = ""): string[] {
  const roles: string[] = [...PROJECT_ROLES];
  return current && !roles.includes(current) ? [...roles, current] : roles;
}

/** "Ada Lovelace (ada@example.com)", or the address or the name alone when that is all there is. */
export function memberName(p: PersonInfo): string {
  const name = p.display_name.trim();
  if (!p.email) return name || p.user_id;
  return name && name !== p.email ? `${name} (${p.email})` : p.email;
}

/** "ada@example.com (you) · lead": a member as the list shows it to those who may not change it. */
export function memberLine(p: PersonInfo): string {
  return `${memberName(p)}${p.you ? " (you)" : ""} · ${p.role}${p.team_owner ? " (team owner)" : ""}`;
}

/** Why a team owner's role here is not the project's to change. */
export const OWNER_LOCKED = "A team owner leads every project of the team, whatever their role here; the team's owners change that.";

/** Why the member's role select is disabled, or null when it is not: one's own role is changed by
 *  another lead (a lead who demotes themselves cannot manage the members any more). */
export function roleLocked(p: PersonInfo): string | null {
  if (p.team_owner) return OWNER_LOCKED;
  return p.you ? "This is you: ask another lead to change your role (as anything but a lead you could not manage the members any more)." : null;
}

/** The line under the list for those who may not change it. */
export const ONLY_LEADS = "Only the project's leads can add, change or remove members.";

/** The date of an RFC 3339 time, as written ("2026-12-14"); the text itself when it is no such time. */
export function expiryDate(rfc3339: string): string {
  return /^\d{4}-\d{2}-\d{2}/.test(rfc3339) ? rfc3339.slice(0, 10) : rfc3339;
}

/** ", until 2026-12-14", or ", expired on 2026-12-14" once `now` (ms) is past it. */
function until(rfc3339: string, now: number): string {
  const t = Date.parse(rfc3339);
  return !Number.isNaN(t) && t <= now ? `, expired on ${expiryDate(rfc3339)}` : `, until ${expiryDate(rfc3339)}`;
}

/** An open invitation of the project: "cy@example.com as reviewer, until 2026-12-14". */
export function invitationLine(i: InvitationInfo, now: number): string {
  return `${i.email} as ${i.role}${until(i.expires_at, now)}`;
}

/** An invitation sent to you: "Street in team of boss@example.com, as reviewer, from
 *  boss@example.com, until 2026-12-14"; one to a team: "team Crew, as member, …". */
export function myInvitationLine(m: MyInvitation, now: number): string {
  const to = m.project ? `${m.project} in ${m.team}` : `team ${m.team}`;
  const from = m.invited_by ? `, from ${m.invited_by}` : "";
  return `${to}, as ${m.role}${from}${until(m.expires_at, now)}`;
}

/** Why the add form's button is disabled, or null when it can be sent. */
export function addProblem(email: string, role: string): string | null {
  const e = email.trim();
  if (!e) return "give the e-mail address of the person to add";
  if (!e.includes("@")) return "an e-mail address has an @";
  if (!(PROJECT_ROLES as readonly string[]).includes(role)) return "choose a role";
  return null;
}

/** What the Members section shows: the project's people, the add form, the run going on and how
 *  the last change went. */
export interface MembersState {
  /** The project whose people these are (or are being read). */
  projectId: string;
  /** Null until the first answer. */
  people: ProjectPeople | null;
  /** The add form. */
  email: string;
  role: string;
  /** What runs now ("adding cy@example.com"); "" when nothing does. */
  busy: string;
  /** Why the last step failed. */
  error: string;
  /** What the last change did (the server's words after an add). */
  message: string;
}

export function initialMembers(projectId = ""): MembersState {
  return { projectId, people: null, email: "", role: "annotator", busy: "", error: "", message: "" };
}

/** Told of every failure (the dialog reads the account again when the session ended). */
export type OnFailure = (e: unknown) => void;

/** Runs one step of `s`'s project: `what` while it runs, the error's message when it fails. An
 *  answer that comes after the section moved to another project is dropped. A `quiet` step leaves
 *  the last outcome on screen. */
async function step<T>(s: MembersState, what: string, work: () => Promise<T>, onfail?: OnFailure, quiet = false): Promise<T | undefined> {
  const project = s.projectId;
  s.busy = what;
  if (!quiet) {
    s.error = "";
    s.message = "";
  }
  try {
    const r = await work();
    return s.projectId === project ? r : undefined;
  } catch (e) {
    if (s.projectId === project) s.error = errorMessage(e);
    onfail?.(e);
    return undefined;
  } finally {
    if (s.projectId === project) s.busy = "";
  }
}

/** Reads the project's people (a new project starts the section afresh). */
export async function loadPeople(api: Pick<Api, "projectPeople">, s: MembersState, projectId: string, onfail?: OnFailure) {
  if (s.projectId !== projectId) Object.assign(s, initialMembers(projectId));
  const p = await step(s, "reading the members", () => api.projectPeople(projectId), onfail, true);
  if (p) s.people = p;
}

/** Adds the form's address as the form's role (an invitation the server mails when they have no
 *  account); the form is emptied and the server's message shown. */
export async function addMember(api: Pick<Api, "addPerson">, s: MembersState, onfail?: OnFailure) {
  if (addProblem(s.email, s.role)) return;
  const email = s.email.trim();
  const r = await step(s, `adding ${email}`, () => api.addPerson(s.projectId, email, s.role), onfail);
  if (!r) return;
  s.people = r.people;
  s.message = r.message;
  s.email = "";
}

/** Gives a member another role. When that fails the list is drawn again, so the select shows the
 *  role the member still has. */
export async function changeRole(api: Pick<Api, "setPersonRole">, s: MembersState, p: PersonInfo, role: string, onfail?: OnFailure) {
  if (role === p.role) return;
  const r = await step(s, `making ${memberName(p)} ${role}`, () => api.setPersonRole(s.projectId, p.user_id, role), onfail);
  if (r) {
    s.people = r;
    s.message = `${memberName(p)} is now ${role === "annotator" ? "an" : "a"} ${role}`;
  } else if (s.people) {
    s.people = { ...s.people, members: s.people.members.map((m) => ({ ...m })) };
  }
}

/** Takes a member off the project (their work stays). */
export async function removeMember(api: Pick<Api, "removePerson">, s: MembersState, p: PersonInfo, onfail?: OnFailure) {
  const r = await step(s, `removing ${memberName(p)}`, () => api.removePerson(s.projectId, p.user_id), onfail);
  if (!r) return;
  s.people = r;
  s.message = `${memberName(p)} is no longer on the project (their work stays)`;
}

/** Withdraws an open invitation. */
export async function revokeInvitation(api: Pick<Api, "revokeInvitation">, s: MembersState, i: InvitationInfo, onfail?: OnFailure) {
  const r = await step(s, `revoking the invitation of ${i.email}`, () => api.revokeInvitation(s.projectId, i.id), onfail);
  if (!r) return;
  s.people = r;
  s.message = `the invitation of ${i.email} is revoked`;
}

/** The invitations sent to the signed-in user, and how accepting one went. */
export interface MyInvitationsState {
  list: MyInvitation[];
  busy: string;
  error: string;
  /** What accepting did. */
  done: string;
}

export function initialMyInvitations(): MyInvitationsState {
  return { list: [], busy: "", error: "", done: "" };
}

/** Reads the invitations sent to you. A failure leaves the list as it was and is not shown (the
 *  section stays hidden; the dialog's other steps say when the server cannot be reached). */
export async function loadMyInvitations(api: Pick<Api, "myInvitations">, s: MyInvitationsState, onfail?: OnFailure) {
  try {
    s.list = await api.myInvitations();
  } catch (e) {
    onfail?.(e);
  }
}

/** Accepts an invitation; then `reload` reads the server's projects again, so its project is
 *  there to open. */
export async function acceptInvitation(
  api: Pick<Api, "acceptInvitation">,
  s: MyInvitationsState,
  m: MyInvitation,
  reload: () => Promise<unknown>,
  onfail?: OnFailure,
) {
  s.busy = "accepting";
  s.error = "";
  s.done = "";
  try {
    s.list = await api.acceptInvitation(m.id);
  } catch (e) {
    s.error = errorMessage(e);
    onfail?.(e);
    return;
  } finally {
    s.busy = "";
  }
  s.done = m.project ? `you are on ${m.project} as ${m.role}: open it under On the server` : `you are in team ${m.team} now`;
  await reload();
}
