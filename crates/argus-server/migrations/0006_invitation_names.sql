-- What an invitee may read of an invitation sent to their address before
-- they are a member: the names of its team and project. Security definer,
-- and only for invitations addressed to the caller's own e-mail.
create function argus.my_invitation_names(ids uuid[]) returns table (id uuid, team_name text, project_name text)
    language sql stable security definer set search_path = ''
    as $$
        select i.id, t.name, p.name
        from argus.invitations i
        join argus.teams t on t.id = i.team_id
        left join argus.projects p on p.id = i.project_id
        where i.id = any(ids) and i.email = argus.jwt_email()
    $$;
revoke all on function argus.my_invitation_names(uuid[]) from public;
grant execute on function argus.my_invitation_names(uuid[]) to authenticated;
