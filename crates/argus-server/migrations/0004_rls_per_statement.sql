-- Row-level security, evaluated once per statement instead of once per row.
-- The policies of 0002/0003 called argus.has_permission(project, ...) for
-- every row: a security-definer function PostgreSQL cannot inline, which
-- parsed the claims again each time (18 ms for a list of 50 projects). Here the
-- caller's projects and teams are computed once (an uncorrelated IN (...)
-- subquery is a hashed sub-plan run once per statement); what they decide is
-- the same, and argus.has_permission stays for single-row checks.

-- The caller's rank in each project they may see: an explicit membership, or
-- lead (3) as an owner of the project's team.
create function argus.my_project_ranks() returns table (project_id uuid, rank integer)
    language sql stable security definer set search_path = ''
    as $$
    select r.project_id, max(r.rank)::integer from (
        select m.project_id, case m.role when 'annotator' then 1 when 'reviewer' then 2 when 'lead' then 3 end as rank
            from argus.project_members m where m.user_id = argus.uid()
        union all
        select p.id, 3 from argus.projects p join argus.team_members t on t.team_id = p.team_id
            where t.user_id = argus.uid() and t.role = 'owner'
    ) r group by r.project_id
    $$;

-- The projects where the caller holds `permission` (the role matrix decides).
create function argus.my_projects(permission text) returns setof uuid
    language sql stable security definer set search_path = ''
    as $$
    select r.project_id from argus.my_project_ranks() r
        where r.rank >= (select m.min_rank from argus.role_matrix m where m.permission = my_projects.permission)
    $$;

-- The caller's teams and role in each.
create function argus.my_teams() returns table (team_id uuid, role text)
    language sql stable security definer set search_path = ''
    as $$ select t.team_id, t.role from argus.team_members t where t.user_id = argus.uid() $$;

grant execute on function argus.my_project_ranks(), argus.my_projects(text), argus.my_teams() to authenticated;

drop policy teams_select on argus.teams;
drop policy teams_update on argus.teams;
drop policy teams_delete on argus.teams;
create policy teams_select on argus.teams for select to authenticated using (id in (select t.team_id from argus.my_teams() t));
create policy teams_update on argus.teams for update to authenticated using (id in (select t.team_id from argus.my_teams() t where t.role = 'owner'));
create policy teams_delete on argus.teams for delete to authenticated using (id in (select t.team_id from argus.my_teams() t where t.role = 'owner'));

drop policy team_members_select on argus.team_members;
drop policy team_members_insert on argus.team_members;
drop policy team_members_update on argus.team_members;
drop policy team_members_delete on argus.team_members;
create policy team_members_select on argus.team_members for select to authenticated
    using (team_id in (select t.team_id from argus.my_teams() t));
create policy team_members_insert on argus.team_members for insert to authenticated
    with check (team_id in (select t.team_id from argus.my_teams() t where t.role = 'owner'));
create policy team_members_update on argus.team_members for update to authenticated
    using (team_id in (select t.team_id from argus.my_teams() t where t.role = 'owner'));
create policy team_members_delete on argus.team_members for delete to authenticated
    using (team_id in (select t.team_id from argus.my_teams() t where t.role = 'owner') or user_id = argus.uid());

drop policy projects_select on argus.projects;
drop policy projects_insert on argus.projects;
drop policy projects_update on argus.projects;
drop policy projects_delete on argus.projects;
create policy projects_select on argus.projects for select to authenticated using (id in (select argus.my_projects('view_project')));
create policy projects_insert on argus.projects for insert to authenticated
    with check (team_id in (select t.team_id from argus.my_teams() t where t.role = 'owner') and created_by = argus.uid());
create policy projects_update on argus.projects for update to authenticated using (id in (select argus.my_projects('edit_schema')));
create policy projects_delete on argus.projects for delete to authenticated using (id in (select argus.my_projects('delete_project')));

drop policy project_members_select on argus.project_members;
drop policy project_members_insert on argus.project_members;
drop policy project_members_update on argus.project_members;
drop policy project_members_delete on argus.project_members;
create policy project_members_select on argus.project_members for select to authenticated
    using (project_id in (select argus.my_projects('view_members')));
create policy project_members_insert on argus.project_members for insert to authenticated
    with check (project_id in (select argus.my_projects('manage_members')));
create policy project_members_update on argus.project_members for update to authenticated
    using (project_id in (select argus.my_projects('manage_members')));
create policy project_members_delete on argus.project_members for delete to authenticated
    using (project_id in (select argus.my_projects('manage_members')));

drop policy invitations_select on argus.invitations;
drop policy invitations_insert on argus.invitations;
drop policy invitations_delete on argus.invitations;
create policy invitations_select on argus.invitations for select to authenticated
    using (case when project_id is null then team_id in (select t.team_id from argus.my_teams() t where t.role = 'owner')
                else project_id in (select argus.my_projects('manage_members')) end
           or email = argus.jwt_email());
create policy invitations_insert on argus.invitations for insert to authenticated
    with check (invited_by = argus.uid() and case when project_id is null then team_id in (select t.team_id from argus.my_teams() t where t.role = 'owner')
                else project_id in (select argus.my_projects('manage_members')) end);
create policy invitations_delete on argus.invitations for delete to authenticated
    using (case when project_id is null then team_id in (select t.team_id from argus.my_teams() t where t.role = 'owner')
                else project_id in (select argus.my_projects('manage_members')) end);

drop policy audit_log_select on argus.audit_log;
create policy audit_log_select on argus.audit_log for select to authenticated
    using (actor_id = argus.uid() or team_id in (select t.team_id from argus.my_teams() t where t.role = 'owner')
           or project_id in (select argus.my_projects('manage_members')));

drop policy videos_select on argus.videos;
drop policy videos_insert on argus.videos;
drop policy videos_update on argus.videos;
drop policy videos_delete on argus.videos;
create policy videos_select on argus.videos for select to authenticated using (project_id in (select argus.my_projects('view_project')));
create policy videos_insert on argus.videos for insert to authenticated
    with check (project_id in (select argus.my_projects('upload_videos')) and created_by = argus.uid());
create policy videos_update on argus.videos for update to authenticated using (project_id in (select argus.my_projects('upload_videos')));
create policy videos_delete on argus.videos for delete to authenticated using (project_id in (select argus.my_projects('upload_videos')));
