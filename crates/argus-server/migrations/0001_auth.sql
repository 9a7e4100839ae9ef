-- Argus auth (the GoTrue contract). Its tables live in argus_auth, never in
-- `auth`, which a Supabase database already owns. The runtime role reaches
-- them through grants made by the server at start (db::ensure_grants); the
-- roles anon, authenticated and service_role reach nothing here.
create schema if not exists argus_auth;

create table argus_auth.users (
    id uuid primary key,
    aud text not null default 'authenticated',
    role text not null default 'authenticated',
    email text,
    encrypted_password text,
    email_confirmed_at timestamptz,
    phone text,
    last_sign_in_at timestamptz,
    raw_app_meta_data jsonb not null default '{}',
    raw_user_meta_data jsonb not null default '{}',
    is_anonymous boolean not null default false,
    email_change text,
    banned_until timestamptz,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);
create unique index users_email_key on argus_auth.users (lower(email)) where email is not null;

create table argus_auth.identities (
    id uuid primary key,
    user_id uuid not null references argus_auth.users(id) on delete cascade,
    provider text not null,
    provider_id text not null,
    identity_data jsonb not null default '{}',
    last_sign_in_at timestamptz,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint identities_provider_key unique (provider, provider_id)
);
create index identities_user_idx on argus_auth.identities (user_id);

create table argus_auth.sessions (
    id uuid primary key,
    user_id uuid not null references argus_auth.users(id) on delete cascade,
    aal text not null default 'aal1',
    amr jsonb not null default '[]',
    user_agent text,
    ip text,
    refreshed_at timestamptz,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);
create index sessions_user_idx on argus_auth.sessions (user_id);

create table argus_auth.refresh_tokens (
    id bigserial primary key,
    token text not null,
    user_id uuid not null references argus_auth.users(id) on delete cascade,
    session_id uuid not null references argus_auth.sessions(id) on delete cascade,
    parent text,
    revoked boolean not null default false,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint refresh_tokens_token_key unique (token)
);
create index refresh_tokens_session_idx on argus_auth.refresh_tokens (session_id, revoked);
create index refresh_tokens_parent_idx on argus_auth.refresh_tokens (parent);

-- Confirmation, recovery, magic-link, e-mail-change and invite tokens. Only
-- hashes are stored: sha224(email || otp), as GoTrue computes its token_hash.
create table argus_auth.one_time_tokens (
    id uuid primary key,
    user_id uuid not null references argus_auth.users(id) on delete cascade,
    token_type text not null check (token_type in ('confirmation', 'recovery', 'magiclink', 'email_change', 'invite')),
    token_hash text not null,
    relates_to text not null,
    created_at timestamptz not null default now(),
    expires_at timestamptz not null,
    constraint one_time_tokens_hash_key unique (token_hash)
);
create index one_time_tokens_user_idx on argus_auth.one_time_tokens (user_id, token_type);

-- PKCE flows of external OAuth / OpenID Connect sign-ins.
create table argus_auth.flow_state (
    id uuid primary key,
    provider text not null,
    code_challenge text not null,
    code_challenge_method text not null,
    redirect_to text,
    nonce text,
    auth_code text,
    user_id uuid references argus_auth.users(id) on delete cascade,
    provider_access_token text,
    created_at timestamptz not null default now()
);
create unique index flow_state_code_key on argus_auth.flow_state (auth_code) where auth_code is not null;

-- Rate-limit counters: fixed windows, shared by every server instance.
create table argus_auth.rate_limits (
    bucket text not null,
    subject text not null,
    window_start timestamptz not null,
    hits integer not null,
    primary key (bucket, subject, window_start)
);

-- Auth events (sign-ups, sign-ins, refreshes, logouts, admin actions), as
-- Supabase's auth.audit_log_entries.
create table argus_auth.audit_log_entries (
    id bigserial primary key,
    actor_id uuid,
    action text not null,
    payload jsonb not null default '{}',
    ip text,
    created_at timestamptz not null default now()
);
create index audit_log_entries_created_idx on argus_auth.audit_log_entries (created_at);
