-- Teams, projects, members and invitations, guarded by row-level security the
-- way Supabase does it: the API runs each request's queries as the role
-- `authenticated` with the caller's JWT claims in `request.jwt.claims`, and
-- every policy asks argus.uid() and the role matrix (argus.role_matrix, which
-- the server fills from argus-core's Role::minimum_for at every start).
create schema if not exists argus;

create function argus.claims() returns jsonb
    language sql stable
    as $$ select coalesce(nullif(current_setting('request.jwt.claims', true), ''), '{}')::jsonb $$;

create function argus.uid() returns uuid
    language sql stable
    as $$ select nullif(argus.claims() ->> 'sub', '')::uuid $$;

create function argus.jwt_email() returns text
    language sql stable
    as $$ select lower(nullif(argus.claims() ->> 'email', '')) $$;

create table argus.role_matrix (
    permission text primary key,
    min_rank integer not null check (min_rank between 1 and 3)
);

create table argus.teams (
    id uuid primary key,
    name text not null check (length(btrim(name)) between 1 and 200),
    max_file_bytes bigint check (max_file_bytes > 0),
    quota_bytes bigint check (quota_bytes > 0),
    created_by uuid not null default argus.uid(),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

create table argus.team_members (
    team_id uuid not null references argus.teams(id) on delete cascade,
    user_id uuid not null,
    role text not null check (role in ('member', 'owner')),
    created_at timestamptz not null default now(),
    constraint team_members_pkey primary key (team_id, user_id)
);
create index team_members_user_idx on argus.team_members (user_id);

create table argus.projects (
    id uuid primary key,
    team_id uuid not null references argus.teams(id) on delete cascade,
    name text not null check (length(btrim(name)) between 1 and 200),
    description text not null default '',
    label_schema jsonb not null,
    settings jsonb not null default '{}',
    created_by uuid not null default argus.uid(),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);
create index projects_team_idx on argus.projects (team_id);

create table argus.project_members (
    project_id uuid not null references argus.projects(id) on delete cascade,
    user_id uuid not null,
    role text not null check (role in ('annotator', 'reviewer', 'lead')),
    display_name text not null default '',
    created_at timestamptz not null default now(),
    constraint project_members_pkey primary key (project_id, user_id)
);
create index project_members_user_idx on argus.project_members (user_id);

create table argus.invitations (
    id uuid primary key,
    team_id uuid not null references argus.teams(id) on delete cascade,
    project_id uuid references argus.projects(id) on delete cascade,
    email text not null check (email = lower(email) and position('@' in email) > 1),
    role text not null check (role in ('annotator', 'reviewer', 'lead', 'member', 'owner')),
    invited_by uuid not null default argus.uid(),
    created_at timestamptz not null default now(),
    expires_at timestamptz not null default now() + interval '7 days',
    accepted_at timestamptz,
    accepted_by uuid,
    check ((project_id is null) = (role in ('member', 'owner')))
);
create unique index invitations_open_key on argus.invitations (team_id, coalesce(project_id, '00000000-0000-0000-0000-000000000000'::uuid), email)
    where accepted_at is null;

-- Membership changes and review decisions.
create table argus.audit_log (
    id bigserial primary key,
    team_id uuid,
    project_id uuid,
    actor_id uuid not null default argus.uid(),
    action text not null,
    subject_id uuid,
    details jsonb not null default '{}',
    created_at timestamptz not null default now()
);
create index audit_log_team_idx on argus.audit_log (team_id, created_at);

-- The caller's role in a team, or null.
create function argus.team_role(team uuid) returns text
    language sql stable security definer set search_path = ''
    as $$ select role from argus.team_members where team_id = team and user_id = argus.uid() $$;

-- The caller's rank in a project: an explicit membership, or lead (3) as an
-- owner of the project's team; 0 when neither.
create function argus.project_rank(project uuid) returns integer
    language sql stable security definer set search_path = ''
    as $$
    select greatest(
        coalesce((select case m.role when 'annotator' then 1 when 'reviewer' then 2 when 'lead' then 3 end
                  from argus.project_members m where m.project_id = project and m.user_id = argus.uid()), 0),
        coalesce((select 3 from argus.projects p join argus.team_members t on t.team_id = p.team_id
                  where p.id = project and t.user_id = argus.uid() and t.role = 'owner'), 0))
    $$;

create function argus.has_permission(project uuid, permission text) returns boolean
    language sql stable security definer set search_path = ''
    as $$
    select coalesce(argus.project_rank(project) >= (select min_rank from argus.role_matrix where role_matrix.permission = has_permission.permission), false)
    $$;

-- The creator of a team becomes its owner; a new project member joins the
-- project's team as a member.
create function argus.on_team_created() returns trigger
    language plpgsql security definer set search_path = ''
    as $$ begin
        insert into argus.team_members (team_id, user_id, role) values (new.id, new.created_by, 'owner');
        return new;
    end $$;
create trigger team_created after insert on argus.teams for each row execute function argus.on_team_created();

create function argus.on_project_member_added() returns trigger
    language plpgsql security definer set search_path = ''
    as $$ begin
        insert into argus.team_members (team_id, user_id, role)
            select p.team_id, new.user_id, 'member' from argus.projects p where p.id = new.project_id
            on conflict do nothing;
        return new;
    end $$;
create trigger project_member_added after insert on argus.project_members for each row execute function argus.on_project_member_added();

-- Accepting an invitation: the caller's verified e-mail must be the one invited.
create function argus.accept_invitation(invitation uuid) returns argus.invitations
    language plpgsql security definer set search_path = ''
    as $$
    declare inv argus.invitations;
    begin
        select * into inv from argus.invitations where id = invitation for update;
        if inv.id is null or inv.email is distinct from argus.jwt_email() then
            raise exception 'invitation not found' using errcode = 'AR404';
        end if;
        if inv.accepted_at is not null then
            raise exception 'invitation already accepted' using errcode = 'AR409';
        end if;
        if inv.expires_at < now() then
            raise exception 'invitation expired' using errcode = 'AR410';
        end if;
        if inv.project_id is null then
            insert into argus.team_members (team_id, user_id, role) values (inv.team_id, argus.uid(), inv.role)
                on conflict (team_id, user_id) do update set role = case when excluded.role = 'owner' then 'owner' else argus.team_members.role end;
        else
            insert into argus.project_members (project_id, user_id, role) values (inv.project_id, argus.uid(), inv.role)
                on conflict (project_id, user_id) do update set role = excluded.role;
        end if;
        update argus.invitations set accepted_at = now(), accepted_by = argus.uid() where id = invitation returning * into inv;
        insert into argus.audit_log (team_id, project_id, actor_id, action, subject_id, details)
            values (inv.team_id, inv.project_id, argus.uid(), 'invitation.accepted', inv.id, jsonb_build_object('role', inv.role));
        return inv;
    end $$;

alter table argus.teams enable row level security;
alter table argus.team_members enable row level security;
alter table argus.projects enable row level security;
alter table argus.project_members enable row level security;
alter table argus.invitations enable row level security;
alter table argus.audit_log enable row level security;
alter table argus.role_matrix enable row level security;

create policy teams_select on argus.teams for select to authenticated using (argus.team_role(id) is not null);
create policy teams_insert on argus.teams for insert to authenticated with check (created_by = argus.uid());
create policy teams_update on argus.teams for update to authenticated using (argus.team_role(id) = 'owner');
create policy teams_delete on argus.teams for delete to authenticated using (argus.team_role(id) = 'owner');

create policy team_members_select on argus.team_members for select to authenticated using (argus.team_role(team_id) is not null);
create policy team_members_insert on argus.team_members for insert to authenticated with check (argus.team_role(team_id) = 'owner');
create policy team_members_update on argus.team_members for update to authenticated using (argus.team_role(team_id) = 'owner');
create policy team_members_delete on argus.team_members for delete to authenticated
    using (argus.team_role(team_id) = 'owner' or user_id = argus.uid());

create policy projects_select on argus.projects for select to authenticated using (argus.has_permission(id, 'view_project'));
create policy projects_insert on argus.projects for insert to authenticated
    with check (argus.team_role(team_id) = 'owner' and created_by = argus.uid());
create policy projects_update on argus.projects for update to authenticated using (argus.has_permission(id, 'edit_schema'));
create policy projects_delete on argus.projects for delete to authenticated using (argus.has_permission(id, 'delete_project'));

create policy project_members_select on argus.project_members for select to authenticated
    using (argus.has_permission(project_id, 'view_members'));
create policy project_members_insert on argus.project_members for insert to authenticated
    with check (argus.has_permission(project_id, 'manage_members'));
create policy project_members_update on argus.project_members for update to authenticated
    using (argus.has_permission(project_id, 'manage_members'));
create policy project_members_delete on argus.project_members for delete to authenticated
    using (argus.has_permission(project_id, 'manage_members'));

create policy invitations_select on argus.invitations for select to authenticated
    using (case when project_id is null then argus.team_role(team_id) = 'owner'
                else argus.has_permission(project_id, 'manage_members') end
           or email = argus.jwt_email());
create policy invitations_insert on argus.invitations for insert to authenticated
    with check (invited_by = argus.uid() and case when project_id is null then argus.team_role(team_id) = 'owner'
                else argus.has_permission(project_id, 'manage_members') end);
create policy invitations_delete on argus.invitations for delete to authenticated
    using (case when project_id is null then argus.team_role(team_id) = 'owner'
                else argus.has_permission(project_id, 'manage_members') end);

create policy audit_log_select on argus.audit_log for select to authenticated
    using (actor_id = argus.uid() or argus.team_role(team_id) = 'owner'
           or (project_id is not null and argus.has_permission(project_id, 'manage_members')));
create policy audit_log_insert on argus.audit_log for insert to authenticated with check (actor_id = argus.uid());

create policy role_matrix_select on argus.role_matrix for select to authenticated, anon using (true);

grant usage on schema argus to anon, authenticated, service_role;
grant select, insert, update, delete on argus.teams, argus.team_members, argus.projects, argus.project_members to authenticated;
grant select, insert, delete on argus.invitations to authenticated;
grant select, insert on argus.audit_log to authenticated;
grant usage on sequence argus.audit_log_id_seq to authenticated;
grant select on argus.role_matrix to authenticated, anon;
revoke all on function argus.accept_invitation(uuid) from public;
grant execute on function argus.accept_invitation(uuid) to authenticated;
