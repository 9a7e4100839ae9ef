import { describe, expect, it } from "vitest";
import { render } from "svelte/server";
import MembersSection from "../components/MembersSection.svelte";
import MyInvitations from "../components/MyInvitations.svelte";
import TeamDialog from "../components/TeamDialog.svelte";
import type { Api } from "./api";
import type { AccountInfo, SyncInfo } from "./bindings";
import { SYNC_NOW, account, fails, myInvitation, people, person, recordingApi, syncInfo, teamDialogProps } from "./fixtures";
import {
  ONLY_LEADS,
  acceptInvitation,
  addMember,
  addProblem,
  changeRole,
  expiryDate,
  initialMembers,
  initialMyInvitations,
  invitationLine,
  loadMyInvitations,
  loadPeople,
  memberLine,
  memberName,
  myInvitationLine,
  removeMember,
  revokeInvitation,
  roleLocked,
  roleOptions,
  type MembersState,
  type MyInvitationsState,
} from "./members";

const NOW = SYNC_NOW;


/** The Members section of project-1 with `more` over what was read. */
function members(more: Partial<MembersState> = {}): MembersState {
  return { ...initialMembers("project-1"), people: people(), ...more };
}

describe("member and invitation lines", () => {
  it("names a member by name and address, or what there is; marks you", () => {
    expect(memberName(person())).toBe("bob@example.com");
    expect(memberName(person({ display_name: "Bob Builder" }))).toBe("Bob Builder (bob@example.com)");
    expect(memberName(person({ email: null, display_name: "Bob" }))).toBe("Bob");
    expect(memberName(person({ email: null, display_name: " " }))).toBe("u-2");
    expect(memberLine(person({ role: "reviewer" }))).toBe("bob@example.com · reviewer");
    expect(memberLine(people().members[0])).toBe("Ada (ada@example.com) (you) · lead");
    expect(memberLine(person({ role: "lead", team_owner: true }))).toBe("bob@example.com · lead (team owner)");
  });

  it("offers the project's roles (and an unknown one the server answered)", () => {
    expect(roleOptions()).toEqual(["annotator", "reviewer", "lead"]);
    expect(roleOptions("lead")).toEqual(["annotator", "reviewer", "lead"]);
    expect(roleOptions("owner")).toEqual(["annotator", "reviewer", "lead", "owner"]);
  });

  it("your own role is changed by another lead", () => {
    expect(roleLocked(person())).toBeNull();
    expect(roleLocked(person({ you: true }))).toContain("ask another lead");
  });

  it("a team owner's role is the team's, not the project's", () => {
    expect(roleLocked(person({ team_owner: true }))).toContain("leads every project of the team");
    expect(roleLocked(person({ team_owner: true, you: true }))).toContain("leads every project of the team");
  });

  it("an invitation's expiry is its date; a past one says it expired", () => {
    expect(expiryDate("2026-12-14T09:30:00+02:00")).toBe("2026-12-14");
    expect(expiryDate("soon")).toBe("soon");
    const i = { id: "i", email: "cy@example.com", role: "reviewer", expires_at: "2027-06-14T10:00:00Z" };
    expect(invitationLine(i, NOW)).toBe("cy@example.com as reviewer, until 2027-06-14");
    expect(invitationLine({ ...i, expires_at: "2026-12-14T10:00:00Z" }, NOW)).toBe("cy@example.com as reviewer, expired on 2026-12-14");
  });

  it("an invitation for you says to what, as what, from whom and until when", () => {
    const now = Date.parse("2026-11-01T00:00:00Z");
    const m = myInvitation({ expires_at: "2026-12-14T10:00:00Z" });
    expect(myInvitationLine(m, now)).toBe("Street in team of boss@example.com, as reviewer, from boss@example.com, until 2026-12-14");
    expect(myInvitationLine({ ...m, project: null, project_id: null, team: "Crew", role: "member", invited_by: null }, now)).toBe(
      "team Crew, as member, until 2026-12-14",
    );
  });

  it("the add form says what is missing", () => {
    expect(addProblem("", "annotator")).toContain("give the e-mail address");
    expect(addProblem("   ", "annotator")).toContain("give the e-mail address");
    expect(addProblem("bob", "annotator")).toBe("an e-mail address has an @");
    expect(addProblem(" bob@example.com ", "lead")).toBeNull();
    expect(addProblem("bob@example.com", "")).toBe("choose a role");
  });
});

describe("member changes", () => {
  it("reads the people of the project; another project starts afresh", async () => {
    const f = recordingApi({ projectPeople: () => people() });
    const s: MembersState = { ...initialMembers("project-0"), email: "x@example.com", error: "old" };
    await loadPeople(f.api, s, "project-1");
    expect(f.calls).toEqual([["projectPeople", "project-1"]]);
    expect(s).toMatchObject({ projectId: "project-1", email: "", error: "", busy: "" });
    expect(s.people?.members).toHaveLength(2);
  });

  it("an answer for a project no longer shown is dropped", async () => {
    let resolve!: (v: unknown) => void;
    const f = recordingApi({ projectPeople: () => new Promise((r) => (resolve = r)) });
    const s = initialMembers();
    const loading = loadPeople(f.api, s, "project-1");
    s.projectId = "project-2";
    resolve(people());
    await loading;
    expect(s.people).toBeNull();
  });

  it("not on the server: the error says so and the session is not in question", async () => {
    const seen: unknown[] = [];
    const f = recordingApi({ projectPeople: fails("not_found", "this project is not on the server: publish it first (Team, then Publish)") });
    const s = initialMembers();
    await loadPeople(f.api, s, "project-1", (e) => seen.push(e));
    expect(s.error).toContain("publish it first");
    expect(seen).toEqual([{ kind: "not_found", message: expect.any(String) }]);
  });

  it("adds the tidied address as the chosen role, shows the server's message and empties the form", async () => {
    const after = people({ invitations: [] });
    const f = recordingApi({ addPerson: () => ({ people: after, invited: true, message: "dan@example.com has no account yet: the server mailed them an invitation as reviewer (valid until 2027-06-14)" }) });
    const s = members({ email: "  dan@example.com ", role: "reviewer", message: "old", error: "old" });
    await addMember(f.api, s);
    expect(f.calls).toEqual([["addPerson", "project-1", "dan@example.com", "reviewer"]]);
    expect(s.message).toContain("the server mailed them an invitation");
    expect(s).toMatchObject({ email: "", role: "reviewer", error: "", busy: "" });
    expect(s.people).toBe(after);
  });

  it("an address without @ is not sent; a refused add keeps the form and says why", async () => {
    const f = recordingApi({ addPerson: fails("conflict", "cy@example.com already has an open invitation to this project; revoke it to send another") });
    const s = members({ email: "cy" });
    await addMember(f.api, s);
    expect(f.calls).toEqual([]);
    s.email = "cy@example.com";
    await addMember(f.api, s);
    expect(s.error).toContain("revoke it to send another");
    expect(s.email).toBe("cy@example.com");
    expect(s.message).toBe("");
  });

  it("changes a role; a refused change draws the list again with the role unchanged", async () => {
    const promoted = people({ members: [people().members[0], person({ role: "reviewer" })] });
    const ok = recordingApi({ setPersonRole: () => promoted });
    const s = members();
    await changeRole(ok.api, s, person(), "reviewer");
    expect(ok.calls).toEqual([["setPersonRole", "project-1", "u-2", "reviewer"]]);
    expect(s.people).toBe(promoted);
    expect(s.message).toBe("bob@example.com is now a reviewer");

    const refused = recordingApi({ setPersonRole: fails("server", "only the project's leads may change roles") });
    const t = members();
    const before = t.people!;
    await changeRole(refused.api, t, person(), "lead");
    expect(t.error).toBe("only the project's leads may change roles");
    expect(t.people).not.toBe(before);
    expect(t.people?.members.map((m) => m.role)).toEqual(["lead", "annotator"]);
    await changeRole(refused.api, t, person(), "annotator");
    expect(refused.calls).toHaveLength(1);
  });

  it("removes a member and revokes an invitation with the answered people", async () => {
    const left = people({ members: [people().members[0]], invitations: [] });
    const f = recordingApi({ removePerson: () => left, revokeInvitation: () => left });
    const s = members();
    await removeMember(f.api, s, person());
    expect(s.message).toBe("bob@example.com is no longer on the project (their work stays)");
    await revokeInvitation(f.api, s, people().invitations[0]);
    expect(s.message).toBe("the invitation of cy@example.com is revoked");
    expect(f.calls).toEqual([
      ["removePerson", "project-1", "u-2"],
      ["revokeInvitation", "project-1", "9b2f6c1e-0000-4000-8000-000000000001"],
    ]);
    expect(s.people).toBe(left);
  });

  it("an ended session is passed on, so the dialog can read the account again", async () => {
    const seen: unknown[] = [];
    const f = recordingApi({ removePerson: fails("sign_in", "your session has ended; sign in again") });
    const s = members();
    await removeMember(f.api, s, person(), (e) => seen.push(e));
    expect(seen).toEqual([{ kind: "sign_in", message: "your session has ended; sign in again" }]);
    expect(s.error).toBe("your session has ended; sign in again");
  });
});

describe("invitations for you", () => {
  it("reads them; a failure leaves the list and is only passed on", async () => {
    const s = initialMyInvitations();
    await loadMyInvitations(recordingApi({ myInvitations: () => [myInvitation()] }).api, s);
    expect(s.list).toHaveLength(1);
    const seen: unknown[] = [];
    await loadMyInvitations(recordingApi({ myInvitations: fails("offline", "could not reach") }).api, s, (e) => seen.push(e));
    expect(s.list).toHaveLength(1);
    expect(s.error).toBe("");
    expect(seen).toHaveLength(1);
  });

  it("Accept accepts, keeps those left, then reads the server's projects again", async () => {
    const f = recordingApi({ acceptInvitation: () => [], serverProjects: () => [] });
    const s: MyInvitationsState = { ...initialMyInvitations(), list: [myInvitation()] };
    await acceptInvitation(f.api, s, myInvitation(), () => f.api.serverProjects());
    expect(f.calls).toEqual([["acceptInvitation", "9b2f6c1e-0000-4000-8000-000000000002"], ["serverProjects"]]);
    expect(s).toMatchObject({ list: [], busy: "", error: "", done: "you are on Street as reviewer: open it under On the server" });
  });

  it("a refused Accept says why and reads nothing again", async () => {
    const f = recordingApi({ acceptInvitation: fails("sign_in", "this invitation is for another address") });
    const s: MyInvitationsState = { ...initialMyInvitations(), list: [myInvitation()] };
    await acceptInvitation(f.api, s, myInvitation(), () => f.api.serverProjects());
    expect(f.names()).toEqual(["acceptInvitation"]);
    expect(s.error).toBe("this invitation is for another address");
    expect(s.list).toHaveLength(1);
  });
});

describe("Members section (rendered)", () => {
  const section = (m: MembersState, disabled = false) =>
    render(MembersSection, { props: { m, now: NOW, disabled, onrole: () => {}, onremove: () => {}, onrevoke: () => {}, onadd: () => {} } }).body;
  const count = (html: string, testid: string) => html.split(`data-testid="${testid}"`).length - 1;

  it("a lead sees a role select per member (not their own), Remove for others, the invitations and the add form", () => {
    const html = section(members());
    expect(html).toContain('data-can-manage="true"');
    expect(count(html, "member-row")).toBe(2);
    expect(count(html, "member-role")).toBe(2);
    expect(html).toMatch(/data-testid="member-role"[^>]*disabled[^>]*title="This is you: ask another lead/);
    expect(html).toMatch(/<select data-testid="member-role"(?![^>]*disabled)[^>]*title="The member's role on this project"/);
    expect(count(html, "member-remove")).toBe(1);
    expect(html).toMatch(/data-testid="invitation-row"[\s\S]*cy@example.com as reviewer, until 2027-06-14[\s\S]*data-testid="invitation-revoke"/);
    expect(html).toContain('data-testid="invite-email"');
    expect(html).toMatch(/data-testid="invite-role"[\s\S]*<option value="annotator" selected/);
    expect(html).toMatch(/data-testid="invite-add"[^>]*disabled[^>]*title="give the e-mail address of the person to add"/);
    expect(section(members({ email: "dan" }))).toMatch(/data-testid="invite-add"[^>]*disabled[^>]*title="an e-mail address has an @"/);
    expect(section(members({ email: "dan@example.com" }))).toMatch(/<button type="submit" data-testid="invite-add"(?![^>]*disabled)/);
  });

  it("after an add the server's message shows; an error shows in the section", async () => {
    const f = recordingApi({ addPerson: () => ({ people: people(), invited: false, message: "dan@example.com is now a reviewer" }) });
    const m = members({ email: " dan@example.com", role: "reviewer" });
    await addMember(f.api, m);
    expect(f.calls).toEqual([["addPerson", "project-1", "dan@example.com", "reviewer"]]);
    expect(section(m)).toMatch(/data-testid="members-message"[^>]*>dan@example.com is now a reviewer</);
    expect(section(members({ error: "could not reach the server" }))).toMatch(/data-testid="members-error"[^>]*>could not reach the server</);
  });

  it("one who may not manage sees the list only, and who can change it", () => {
    const html = section(members({ people: people({ can_manage: false, invitations: [] }) }));
    expect(count(html, "member-row")).toBe(2);
    expect(html).toContain("Ada (ada@example.com) (you) · lead");
    expect(html).toContain("bob@example.com · annotator");
    for (const id of ["member-role", "member-remove", "invitation-row", "invite-email", "invite-role", "invite-add"]) expect(html).not.toContain(`data-testid="${id}"`);
    expect(html).toContain(ONLY_LEADS);
  });

  it("while the first read runs it says so", () => {
    expect(section({ ...initialMembers("project-1"), busy: "reading the members" })).toContain("reading the members…");
  });
});

describe("Invitations for you (rendered)", () => {
  const list = (s: MyInvitationsState) => render(MyInvitations, { props: { s, now: NOW, onaccept: () => {} } }).body;

  it("hidden when there are none; each listed with Accept", () => {
    expect(list(initialMyInvitations())).not.toContain("Invitations for you");
    const html = list({ ...initialMyInvitations(), list: [myInvitation()] });
    expect(html).toMatch(
      /data-testid="my-invitation"[\s\S]*Street in team of boss@example.com, as reviewer, from boss@example.com, until 2027-06-14[\s\S]*data-testid="invitation-accept"/,
    );
  });

  it("what Accept did stays on screen when none are left", () => {
    expect(list({ ...initialMyInvitations(), done: "you are on Street as reviewer: open it under On the server" })).toContain("open it under On the server");
  });
});

describe("TeamDialog members (rendered)", () => {
  const dialog = (a: AccountInfo | null, sync: SyncInfo | null) =>
    render(TeamDialog, { props: teamDialogProps(a, sync) }).body;

  it("shows the Members section for a project on the server when signed in, not for a local one or signed out", () => {
    expect(dialog(account(), syncInfo())).toContain('data-testid="members"');
    expect(dialog(account(), syncInfo({ on_server: false }))).not.toContain('data-testid="members"');
    expect(dialog(account({ user: null }), syncInfo({ signed_in: false }))).not.toContain('data-testid="members"');
  });
});
