-- Sync: every project's accepted changes in commit order, and each record's
-- current version.
--
-- `seq` is per project and taken inside the push transaction from
-- sync_heads (a row lock), so changes are numbered in the order their
-- transactions commit: a client that pulled up to N has seen every change
-- numbered N or less. (A bigserial is not commit-ordered: with two servers a
-- change could commit late with a smaller number and be skipped.)

create table argus.sync_heads (
    project_id uuid primary key references argus.projects(id) on delete cascade,
    last_seq   bigint not null default 0
);

create table argus.changes (
    project_id uuid not null references argus.projects(id) on delete cascade,
    seq        bigint not null,
    change_id  uuid not null unique,
    hlc        text not null,
    kind       text not null,
    record_id  uuid not null,
    -- The argus_core::model::Change, as applied (the server may adjust it).
    body       jsonb not null,
    author     uuid not null,
    created_at timestamptz not null default now(),
    primary key (project_id, seq)
);

create table argus.records (
    project_id uuid not null references argus.projects(id) on delete cascade,
    kind       text not null,
    record_id  uuid not null,
    hlc        text not null,
    deleted    boolean not null,
    seq        bigint not null,
    -- The record (argus_core::model::Entity), null for a tombstone.
    body       jsonb,
    primary key (project_id, kind, record_id)
);
-- Tracks by video and display number, to renumber on merge.
create index records_tracks on argus.records (project_id, ((body->'record'->>'video_id')), ((body->'record'->>'number')::bigint))
    where kind = 'track' and not deleted;

-- The permission a change of `kind` needs (argus_core's
-- Permission::for_change; the server's tests check they agree).
create function argus.change_permission(kind text, deleting boolean) returns text
    language sql immutable as $$
    select case kind
        when 'project' then case when deleting then 'delete_project' else 'edit_schema' end
        when 'label_schema' then 'edit_schema'
        when 'member' then 'manage_members'
        when 'video' then 'upload_videos'
        when 'review' then 'review'
        when 'comment' then 'comment'
        else 'edit_annotations'
    end
$$;

alter table argus.sync_heads enable row level security;
alter table argus.changes enable row level security;
alter table argus.records enable row level security;

-- Reads ask for the caller's projects once per statement (as 0004 does).
create policy sync_heads_select on argus.sync_heads for select to authenticated using (project_id in (select argus.my_projects('view_project')));
create policy sync_heads_insert on argus.sync_heads for insert to authenticated with check (argus.has_permission(project_id, 'view_project'));
create policy sync_heads_update on argus.sync_heads for update to authenticated using (argus.has_permission(project_id, 'view_project'));

create policy changes_select on argus.changes for select to authenticated using (project_id in (select argus.my_projects('view_project')));
create policy changes_insert on argus.changes for insert to authenticated
    with check (argus.has_permission(project_id, argus.change_permission(kind, body->'op'->>'action' = 'delete'))
                and author = (select argus.uid()));

create policy records_select on argus.records for select to authenticated using (project_id in (select argus.my_projects('view_project')));
create policy records_insert on argus.records for insert to authenticated
    with check (argus.has_permission(project_id, argus.change_permission(kind, deleted)));
create policy records_update on argus.records for update to authenticated
    using (argus.has_permission(project_id, argus.change_permission(kind, deleted)))
    with check (argus.has_permission(project_id, argus.change_permission(kind, deleted)));

grant select, insert, update on argus.sync_heads to authenticated;
grant select, insert on argus.changes to authenticated;
grant select, insert, update on argus.records to authenticated;
grant execute on function argus.change_permission(text, boolean) to authenticated;

-- The server's own changes (renumbering a track, putting a review back in
-- review after an annotator's edit) are written as service_role inside the
-- caller's push transaction: the caller may not make them.
create policy changes_service on argus.changes for all to service_role using (true) with check (true);
create policy records_service on argus.records for all to service_role using (true) with check (true);
grant select, insert, update on argus.changes, argus.records to service_role;
