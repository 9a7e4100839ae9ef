-- Videos uploaded to object storage, and the durable queue of processing
-- jobs. A video's upload and processing state is part of its record.
create table argus.videos (
    id uuid primary key,
    project_id uuid not null references argus.projects(id) on delete cascade,
    name text not null check (length(btrim(name)) between 1 and 255),
    size_bytes bigint not null check (size_bytes > 0),
    sha256 text not null check (sha256 ~ '^[0-9a-f]{64}$'),
    content_type text not null,
    object_key text not null unique,
    status text not null default 'uploading' check (status in ('uploading', 'processing', 'ready', 'failed')),
    failure text,
    upload_id text,
    part_size bigint,
    -- what processing found
    probe jsonb,
    poster_key text,
    strip_key text,
    created_by uuid not null default argus.uid(),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);
create index videos_project_idx on argus.videos (project_id, created_at);

-- Jobs: claimed with FOR UPDATE SKIP LOCKED, retried with backoff, hidden
-- while a worker holds them (visible_at), dead after max_attempts.
create table argus.jobs (
    id bigserial primary key,
    kind text not null,
    video_id uuid references argus.videos(id) on delete cascade,
    state text not null default 'queued' check (state in ('queued', 'running', 'done', 'failed', 'dead')),
    attempts integer not null default 0,
    max_attempts integer not null default 5,
    visible_at timestamptz not null default now(),
    locked_by text,
    last_error text,
    result jsonb,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);
create index jobs_ready_idx on argus.jobs (visible_at) where state in ('queued', 'running');
create index jobs_video_idx on argus.jobs (video_id);

alter table argus.videos enable row level security;
alter table argus.jobs enable row level security;

create policy videos_select on argus.videos for select to authenticated using (argus.has_permission(project_id, 'view_project'));
create policy videos_insert on argus.videos for insert to authenticated
    with check (argus.has_permission(project_id, 'upload_videos') and created_by = argus.uid());
create policy videos_update on argus.videos for update to authenticated using (argus.has_permission(project_id, 'upload_videos'));
create policy videos_delete on argus.videos for delete to authenticated using (argus.has_permission(project_id, 'upload_videos'));

-- Members see their videos' jobs; the queue itself is worked through the
-- server's worker endpoints (service role), not by users.
create policy jobs_select on argus.jobs for select to authenticated
    using (exists (select 1 from argus.videos v where v.id = video_id));
create policy jobs_insert on argus.jobs for insert to authenticated
    with check (exists (select 1 from argus.videos v where v.id = video_id and argus.has_permission(v.project_id, 'upload_videos')));

grant select, insert, update, delete on argus.videos to authenticated;
grant select, insert on argus.jobs to authenticated;
grant usage on sequence argus.jobs_id_seq to authenticated;

-- The worker endpoints run as service_role, which works the whole queue (as
-- Supabase's service_role bypasses RLS).
create policy videos_service on argus.videos for all to service_role using (true) with check (true);
create policy jobs_service on argus.jobs for all to service_role using (true) with check (true);
create policy projects_service on argus.projects for select to service_role using (true);
grant usage on schema argus to service_role;
grant select, update on argus.videos to service_role;
grant select, insert, update on argus.jobs to service_role;
grant select on argus.projects to service_role;

-- Bytes stored by a team (all its projects' videos), for quotas: members may
-- not see every project of their team.
create function argus.team_usage(team uuid) returns bigint
    language sql stable security definer set search_path = ''
    as $$ select coalesce(sum(v.size_bytes), 0)::bigint from argus.videos v join argus.projects p on p.id = v.project_id
          where p.team_id = team and v.status <> 'failed' $$;
revoke all on function argus.team_usage(uuid) from public;
grant execute on function argus.team_usage(uuid) to authenticated;
