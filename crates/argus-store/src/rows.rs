//! Reading and writing whole domain records as rows.
//!
//! Every edit is reduced to a list of [`ChangeOp`]s (upsert a whole record or
//! delete one). This module is the only place that maps records to SQL, so
//! the same code serves commands, undo/redo and (later) applying pulled
//! changes. Writes are upserts (`ON CONFLICT DO UPDATE`, never `REPLACE`,
//! which would delete the row and cascade to its children).

use std::str::FromStr;

use argus_core::{
    id::{LabelSchemaId, ProjectId, ReviewId, ShapeId, TrackId, VideoId},
    model::{
        Attributes, ChangeOp, Comment, Entity, EntityKind, Label, LabelSchema, Member, Project, Review,
        RemoteState, ReviewScope, ReviewState, Role, Rotation, Shape, Timestamp, Track, Video,
    },
    time::Rational,
};
use sqlx::{Row, SqliteConnection, sqlite::SqliteRow};
use uuid::Uuid;

use crate::{Error, Result, codec};

pub(crate) fn parse<T: FromStr>(s: &str, what: &str) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    s.parse().map_err(|e| Error::decode(format!("{what} '{s}': {e}")))
}

fn get_id<T: FromStr>(row: &SqliteRow, col: &str) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    let s: String = row.try_get(col)?;
    parse(&s, col)
}

fn get_opt_id<T: FromStr>(row: &SqliteRow, col: &str) -> Result<Option<T>>
where
    T::Err: std::fmt::Display,
{
    let s: Option<String> = row.try_get(col)?;
    s.map(|s| parse(&s, col)).transpose()
}

fn get_u64(row: &SqliteRow, col: &str) -> Result<u64> {
    let v: i64 = row.try_get(col)?;
    u64::try_from(v).map_err(|_| Error::decode(format!("{col} is negative ({v})")))
}

fn get_u32(row: &SqliteRow, col: &str) -> Result<u32> {
    let v: i64 = row.try_get(col)?;
    u32::try_from(v).map_err(|_| Error::decode(format!("{col} is out of range ({v})")))
}

fn to_i64(v: u64, what: &str) -> Result<i64> {
    i64::try_from(v).map_err(|_| Error::Conflict(format!("{what} {v} is too large to store")))
}

fn get_ts(row: &SqliteRow, col: &str) -> Result<Timestamp> {
    Ok(Timestamp(row.try_get(col)?))
}

fn get_json<T: serde::de::DeserializeOwned>(row: &SqliteRow, col: &str) -> Result<T> {
    let s: String = row.try_get(col)?;
    serde_json::from_str(&s).map_err(|e| Error::decode(format!("{col}: {e}")))
}

fn enum_str<T: serde::Serialize>(v: &T) -> Result<String> {
    match serde_json::to_value(v)? {
        serde_json::Value::String(s) => Ok(s),
        other => Err(Error::decode(format!("expected a string enum, got {other}"))),
    }
}

fn str_enum<T: serde::de::DeserializeOwned>(s: String) -> Result<T> {
    serde_json::from_value(serde_json::Value::String(s)).map_err(Error::from)
}

pub(crate) fn project_from_row(row: &SqliteRow) -> Result<Project> {
    Ok(Project {
        id: get_id(row, "id")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        schema_id: get_id(row, "schema_id")?,
        created_at: get_ts(row, "created_at")?,
        updated_at: get_ts(row, "updated_at")?,
    })
}

pub(crate) fn schema_from_row(row: &SqliteRow) -> Result<LabelSchema> {
    let labels: Vec<Label> = get_json(row, "labels")?;
    LabelSchema::new(get_id(row, "id")?, get_id(row, "project_id")?, get_u32(row, "version")?, labels).map_err(Error::decode)
}

pub(crate) fn member_from_row(row: &SqliteRow) -> Result<Member> {
    let role: String = row.try_get("role")?;
    Ok(Member {
        project_id: get_id(row, "project_id")?,
        user_id: get_id(row, "user_id")?,
        role: role.parse::<Role>().map_err(Error::decode)?,
        display_name: row.try_get("display_name")?,
    })
}

pub(crate) fn video_from_row(row: &SqliteRow) -> Result<Video> {
    let rational = |n: &str, d: &str| -> Result<Rational> {
        Rational::new(row.try_get(n)?, row.try_get(d)?).map_err(Error::decode)
    };
    let rotation: i32 = row.try_get("rotation")?;
    Ok(Video {
        id: get_id(row, "id")?,
        project_id: get_id(row, "project_id")?,
        name: row.try_get("name")?,
        sha256: row.try_get("sha256")?,
        width: get_u32(row, "width")?,
        height: get_u32(row, "height")?,
        frame_rate: rational("rate_num", "rate_den")?,
        frame_count: get_u64(row, "frame_count")?,
        duration: rational("dur_num", "dur_den")?,
        codec: row.try_get("codec")?,
        rotation: Rotation::from_degrees(rotation).map_err(Error::decode)?,
        local_path: row.try_get("local_path")?,
        object_key: row.try_get("object_key")?,
        remote: RemoteState::from_status(&row.try_get::<String, _>("remote_status")?, row.try_get::<Option<String>, _>("remote_failure")?.as_deref())
            .map_err(Error::decode)?,
        created_at: get_ts(row, "created_at")?,
    })
}

pub(crate) fn track_from_row(row: &SqliteRow) -> Result<Track> {
    Ok(Track {
        id: get_id(row, "id")?,
        video_id: get_id(row, "video_id")?,
        label_id: get_id(row, "label_id")?,
        number: get_u32(row, "number")?,
        attributes: get_json::<Attributes>(row, "attributes")?,
        author: get_opt_id(row, "author")?,
        created_at: get_ts(row, "created_at")?,
        updated_at: get_ts(row, "updated_at")?,
    })
}

/// Decodes a shape from a row that has its `data` column.
pub(crate) fn shape_from_row(row: &SqliteRow) -> Result<Shape> {
    let data: &[u8] = row.try_get("data")?;
    codec::decode_shape(data)
}

pub(crate) fn review_from_row(row: &SqliteRow) -> Result<Review> {
    let scope: String = row.try_get("scope")?;
    let scope = match scope.as_str() {
        "video" => ReviewScope::Video,
        "track" => ReviewScope::Track {
            track_id: get_opt_id(row, "track_id")?.ok_or_else(|| Error::decode("track review without a track"))?,
        },
        "frames" => {
            let start: Option<i64> = row.try_get("frame_start")?;
            let end: Option<i64> = row.try_get("frame_end")?;
            match (start.and_then(|s| u64::try_from(s).ok()), end.and_then(|e| u64::try_from(e).ok())) {
                (Some(start), Some(end)) => ReviewScope::Frames { start, end },
                _ => return Err(Error::decode("frame review without a valid frame range")),
            }
        }
        other => return Err(Error::decode(format!("unknown review scope '{other}'"))),
    };
    Ok(Review {
        id: get_id(row, "id")?,
        video_id: get_id(row, "video_id")?,
        scope,
        state: str_enum::<ReviewState>(row.try_get("state")?)?,
        reviewer: get_opt_id(row, "reviewer")?,
        comment: row.try_get("comment")?,
        created_at: get_ts(row, "created_at")?,
        updated_at: get_ts(row, "updated_at")?,
    })
}

pub(crate) fn comment_from_row(row: &SqliteRow) -> Result<Comment> {
    let frame: Option<i64> = row.try_get("frame")?;
    Ok(Comment {
        id: get_id(row, "id")?,
        review_id: get_id(row, "review_id")?,
        author: get_id(row, "author")?,
        body: row.try_get("body")?,
        frame: frame.map(|f| u64::try_from(f).map_err(|_| Error::decode("negative comment frame"))).transpose()?,
        created_at: get_ts(row, "created_at")?,
    })
}

/// The current state of one record, if it exists. For members, `id` is the
/// user id and `project` selects the project.
pub(crate) async fn load(conn: &mut SqliteConnection, project: ProjectId, kind: EntityKind, id: Uuid) -> Result<Option<Entity>> {
    let id_s = id.to_string();
    let (sql, entity): (&str, fn(&SqliteRow) -> Result<Entity>) = match kind {
        EntityKind::Project => ("SELECT * FROM projects WHERE id = ?", |r| project_from_row(r).map(Entity::Project)),
        EntityKind::LabelSchema => ("SELECT * FROM label_schemas WHERE id = ?", |r| schema_from_row(r).map(Entity::LabelSchema)),
        EntityKind::Member => {
            let row = sqlx::query("SELECT * FROM members WHERE user_id = ? AND project_id = ?")
                .bind(&id_s)
                .bind(project.to_string())
                .fetch_optional(&mut *conn)
                .await?;
            return row.map(|r| member_from_row(&r).map(Entity::Member)).transpose();
        }
        EntityKind::Video => ("SELECT * FROM videos WHERE id = ?", |r| video_from_row(r).map(Entity::Video)),
        EntityKind::Track => ("SELECT * FROM tracks WHERE id = ?", |r| track_from_row(r).map(Entity::Track)),
        EntityKind::Shape => ("SELECT data FROM shapes WHERE id = ?", |r| shape_from_row(r).map(Entity::Shape)),
        EntityKind::Review => ("SELECT * FROM reviews WHERE id = ?", |r| review_from_row(r).map(Entity::Review)),
        EntityKind::Comment => ("SELECT * FROM comments WHERE id = ?", |r| comment_from_row(r).map(Entity::Comment)),
    };
    let row = sqlx::query(sql).bind(&id_s).fetch_optional(&mut *conn).await?;
    row.map(|r| entity(&r)).transpose()
}

/// Applies one op and returns the op that undoes it.
pub(crate) async fn apply_op(conn: &mut SqliteConnection, project: ProjectId, op: &ChangeOp) -> Result<ChangeOp> {
    let (kind, id) = op.target();
    let before = load(conn, project, kind, id).await?;
    match op {
        ChangeOp::Upsert { entity } => upsert(conn, entity).await?,
        ChangeOp::Delete { kind, id } => delete(conn, project, *kind, *id).await?,
    }
    Ok(match before {
        Some(entity) => ChangeOp::Upsert { entity },
        None => ChangeOp::Delete { kind, id },
    })
}

async fn delete(conn: &mut SqliteConnection, project: ProjectId, kind: EntityKind, id: Uuid) -> Result<()> {
    let table = match kind {
        EntityKind::Project => "projects",
        EntityKind::LabelSchema => "label_schemas",
        EntityKind::Video => "videos",
        EntityKind::Track => "tracks",
        EntityKind::Shape => "shapes",
        EntityKind::Review => "reviews",
        EntityKind::Comment => "comments",
        EntityKind::Member => {
            sqlx::query("DELETE FROM members WHERE project_id = ? AND user_id = ?")
                .bind(project.to_string())
                .bind(id.to_string())
                .execute(&mut *conn)
                .await?;
            return Ok(());
        }
    };
    sqlx::query(&format!("DELETE FROM {table} WHERE id = ?")).bind(id.to_string()).execute(&mut *conn).await?;
    Ok(())
}

fn opt_id<T: ToString>(v: &Option<T>) -> Option<String> {
    v.as_ref().map(ToString::to_string)
}

pub(crate) async fn upsert(conn: &mut SqliteConnection, entity: &Entity) -> Result<()> {
    match entity {
        Entity::Project(p) => {
            sqlx::query(
                "INSERT INTO projects (id, name, description, schema_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)
                 ON CONFLICT(id) DO UPDATE SET name = excluded.name, description = excluded.description,
                 schema_id = excluded.schema_id, updated_at = excluded.updated_at",
            )
            .bind(p.id.to_string())
            .bind(&p.name)
            .bind(&p.description)
            .bind(p.schema_id.to_string())
            .bind(p.created_at.0)
            .bind(p.updated_at.0)
            .execute(&mut *conn)
            .await?;
        }
        Entity::LabelSchema(s) => {
            sqlx::query(
                "INSERT INTO label_schemas (id, project_id, version, labels) VALUES (?, ?, ?, ?)
                 ON CONFLICT(id) DO UPDATE SET version = excluded.version, labels = excluded.labels",
            )
            .bind(s.id().to_string())
            .bind(s.project_id().to_string())
            .bind(i64::from(s.version()))
            .bind(serde_json::to_string(s.labels())?)
            .execute(&mut *conn)
            .await?;
        }
        Entity::Member(m) => {
            sqlx::query(
                "INSERT INTO members (project_id, user_id, role, display_name) VALUES (?, ?, ?, ?)
                 ON CONFLICT(project_id, user_id) DO UPDATE SET role = excluded.role, display_name = excluded.display_name",
            )
            .bind(m.project_id.to_string())
            .bind(m.user_id.to_string())
            .bind(m.role.as_str())
            .bind(&m.display_name)
            .execute(&mut *conn)
            .await?;
        }
        Entity::Video(v) => {
            sqlx::query(
                "INSERT INTO videos (id, project_id, name, sha256, width, height, rate_num, rate_den, frame_count,
                 dur_num, dur_den, codec, rotation, local_path, object_key, remote_status, remote_failure, created_at)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                 ON CONFLICT(id) DO UPDATE SET name = excluded.name, sha256 = excluded.sha256, width = excluded.width,
                 height = excluded.height, rate_num = excluded.rate_num, rate_den = excluded.rate_den,
                 frame_count = excluded.frame_count, dur_num = excluded.dur_num, dur_den = excluded.dur_den,
                 codec = excluded.codec, rotation = excluded.rotation, local_path = excluded.local_path,
                 object_key = excluded.object_key, remote_status = excluded.remote_status,
                 remote_failure = excluded.remote_failure",
            )
            .bind(v.id.to_string())
            .bind(v.project_id.to_string())
            .bind(&v.name)
            .bind(&v.sha256)
            .bind(i64::from(v.width))
            .bind(i64::from(v.height))
            .bind(v.frame_rate.num())
            .bind(v.frame_rate.den())
            .bind(to_i64(v.frame_count, "frame count")?)
            .bind(v.duration.num())
            .bind(v.duration.den())
            .bind(&v.codec)
            .bind(v.rotation.degrees())
            .bind(&v.local_path)
            .bind(&v.object_key)
            .bind(v.remote.status())
            .bind(v.remote.failure())
            .bind(v.created_at.0)
            .execute(&mut *conn)
            .await?;
        }
        Entity::Track(t) => {
            sqlx::query(
                "INSERT INTO tracks (id, video_id, label_id, number, attributes, author, created_at, updated_at)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                 ON CONFLICT(id) DO UPDATE SET label_id = excluded.label_id, number = excluded.number,
                 attributes = excluded.attributes, author = excluded.author, updated_at = excluded.updated_at",
            )
            .bind(t.id.to_string())
            .bind(t.video_id.to_string())
            .bind(t.label_id.to_string())
            .bind(i64::from(t.number))
            .bind(serde_json::to_string(&t.attributes)?)
            .bind(opt_id(&t.author))
            .bind(t.created_at.0)
            .bind(t.updated_at.0)
            .execute(&mut *conn)
            .await?;
        }
        Entity::Shape(s) => {
            let video_id: String = sqlx::query_scalar("SELECT video_id FROM tracks WHERE id = ?")
                .bind(s.track_id.to_string())
                .fetch_optional(&mut *conn)
                .await?
                .ok_or_else(|| Error::not_found("track", s.track_id))?;
            upsert_shapes(conn, &[(s, video_id, None)]).await?;
        }
        Entity::Review(r) => {
            let (scope, track, start, end) = match r.scope {
                ReviewScope::Video => ("video", None, None, None),
                ReviewScope::Track { track_id } => ("track", Some(track_id.to_string()), None, None),
                ReviewScope::Frames { start, end } => ("frames", None, Some(to_i64(start, "frame")?), Some(to_i64(end, "frame")?)),
            };
            sqlx::query(
                "INSERT INTO reviews (id, video_id, scope, track_id, frame_start, frame_end, state, reviewer, comment, created_at, updated_at)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                 ON CONFLICT(id) DO UPDATE SET scope = excluded.scope, track_id = excluded.track_id,
                 frame_start = excluded.frame_start, frame_end = excluded.frame_end, state = excluded.state,
                 reviewer = excluded.reviewer, comment = excluded.comment, updated_at = excluded.updated_at",
            )
            .bind(r.id.to_string())
            .bind(r.video_id.to_string())
            .bind(scope)
            .bind(track)
            .bind(start)
            .bind(end)
            .bind(enum_str(&r.state)?)
            .bind(opt_id(&r.reviewer))
            .bind(&r.comment)
            .bind(r.created_at.0)
            .bind(r.updated_at.0)
            .execute(&mut *conn)
            .await?;
        }
        Entity::Comment(c) => {
            sqlx::query(
                "INSERT INTO comments (id, review_id, author, body, frame, created_at) VALUES (?, ?, ?, ?, ?, ?)
                 ON CONFLICT(id) DO UPDATE SET body = excluded.body, frame = excluded.frame",
            )
            .bind(c.id.to_string())
            .bind(c.review_id.to_string())
            .bind(c.author.to_string())
            .bind(&c.body)
            .bind(c.frame.map(|f| to_i64(f, "frame")).transpose()?)
            .bind(c.created_at.0)
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(())
}

/// Writes shapes (each with its track's video id), many rows per statement.
/// Writes shapes with their videos and, where given, the version each
/// gets (a shape's version lives on its row; without one the row keeps
/// the version it had, for the caller to set).
pub(crate) async fn upsert_shapes(conn: &mut SqliteConnection, shapes: &[(&Shape, String, Option<argus_core::hlc::Hlc>)]) -> Result<()> {
    write_shapes(conn, shapes, true).await
}

/// [`upsert_shapes`], or with `replace` false a plain insert that fails on
/// a shape already there.
pub(crate) async fn write_shapes(conn: &mut SqliteConnection, shapes: &[(&Shape, String, Option<argus_core::hlc::Hlc>)], replace: bool) -> Result<()> {
    insert_shapes(conn, &encode_shapes(shapes)?, replace).await
}

/// A shape as its row's values: id, track, video, frame, kind, keyframe,
/// the encoded shape, its version.
pub(crate) type EncodedShape = (String, String, String, i64, String, bool, Vec<u8>, Option<String>);

/// Shapes (each with its track's video and, where given, its version) as
/// the values [`insert_shapes`] writes.
pub(crate) fn encode_shapes(shapes: &[(&Shape, String, Option<argus_core::hlc::Hlc>)]) -> Result<Vec<EncodedShape>> {
    shapes
        .iter()
        .map(|(s, video, hlc)| {
            Ok((
                s.id.to_string(),
                s.track_id.to_string(),
                video.clone(),
                to_i64(s.frame, "frame")?,
                enum_str(&s.kind())?,
                s.keyframe,
                codec::encode_shape(s)?,
                hlc.map(|h| h.to_string()),
            ))
        })
        .collect()
}

/// Writes encoded shapes, many rows per statement: upserted, or with
/// `replace` false inserted (failing on one already there). A row without
/// a version keeps the one it had, for the caller to set.
pub(crate) async fn insert_shapes(conn: &mut SqliteConnection, shapes: &[EncodedShape], replace: bool) -> Result<()> {
    // 8 values a row, well under SQLite's 32,766 variables.
    for chunk in shapes.chunks(200) {
        let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new("INSERT INTO shapes (id, track_id, video_id, frame, kind, keyframe, data, hlc) ");
        q.push_values(chunk, |mut b, r| {
            b.push_bind(r.0.as_str())
                .push_bind(r.1.as_str())
                .push_bind(r.2.as_str())
                .push_bind(r.3)
                .push_bind(r.4.as_str())
                .push_bind(r.5)
                .push_bind(r.6.as_slice())
                .push_bind(r.7.as_deref());
        });
        if replace {
            q.push(
                " ON CONFLICT(id) DO UPDATE SET track_id = excluded.track_id, video_id = excluded.video_id,
                 frame = excluded.frame, kind = excluded.kind, keyframe = excluded.keyframe, data = excluded.data,
                 hlc = COALESCE(excluded.hlc, shapes.hlc)",
            );
        }
        q.build().execute(&mut *conn).await?;
    }
    Ok(())
}

// Typed loaders used by command validation.

pub(crate) async fn video(conn: &mut SqliteConnection, id: VideoId) -> Result<Video> {
    let row = sqlx::query("SELECT * FROM videos WHERE id = ?").bind(id.to_string()).fetch_optional(&mut *conn).await?;
    row.map(|r| video_from_row(&r)).transpose()?.ok_or_else(|| Error::not_found("video", id))
}

pub(crate) async fn track(conn: &mut SqliteConnection, id: TrackId) -> Result<Track> {
    let row = sqlx::query("SELECT * FROM tracks WHERE id = ?").bind(id.to_string()).fetch_optional(&mut *conn).await?;
    row.map(|r| track_from_row(&r)).transpose()?.ok_or_else(|| Error::not_found("track", id))
}

pub(crate) async fn shape(conn: &mut SqliteConnection, id: ShapeId) -> Result<Shape> {
    let row = sqlx::query("SELECT data FROM shapes WHERE id = ?").bind(id.to_string()).fetch_optional(&mut *conn).await?;
    row.map(|r| shape_from_row(&r)).transpose()?.ok_or_else(|| Error::not_found("shape", id))
}

pub(crate) async fn review(conn: &mut SqliteConnection, id: ReviewId) -> Result<Review> {
    let row = sqlx::query("SELECT * FROM reviews WHERE id = ?").bind(id.to_string()).fetch_optional(&mut *conn).await?;
    row.map(|r| review_from_row(&r)).transpose()?.ok_or_else(|| Error::not_found("review", id))
}

pub(crate) async fn project(conn: &mut SqliteConnection, id: ProjectId) -> Result<Project> {
    let row = sqlx::query("SELECT * FROM projects WHERE id = ?").bind(id.to_string()).fetch_optional(&mut *conn).await?;
    row.map(|r| project_from_row(&r)).transpose()?.ok_or_else(|| Error::not_found("project", id))
}

pub(crate) async fn schema(conn: &mut SqliteConnection, id: LabelSchemaId) -> Result<LabelSchema> {
    let row = sqlx::query("SELECT * FROM label_schemas WHERE id = ?").bind(id.to_string()).fetch_optional(&mut *conn).await?;
    row.map(|r| schema_from_row(&r)).transpose()?.ok_or_else(|| Error::not_found("label schema", id))
}

/// The shape of `track` on `frame`, if any.
pub(crate) async fn shape_at(conn: &mut SqliteConnection, track: TrackId, frame: u64) -> Result<Option<Shape>> {
    let row = sqlx::query("SELECT data FROM shapes WHERE track_id = ? AND frame = ?")
        .bind(track.to_string())
        .bind(to_i64(frame, "frame")?)
        .fetch_optional(&mut *conn)
        .await?;
    row.map(|r| shape_from_row(&r)).transpose()
}
