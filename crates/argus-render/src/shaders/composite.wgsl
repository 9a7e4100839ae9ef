// Frame + masks in one fullscreen pass. Semantics: see src/cpu.rs.

struct Params {
    frame_size: vec2<u32>,
    tile_grid: vec2<u32>,
    pan: vec2<f32>,
    inv_zoom: f32,
    nearest: u32,
    background: vec4<f32>,
    out_srgb: u32,
    has_masks: u32,
    _pad: vec2<u32>,
}

struct Style {
    fill: vec4<f32>,
    outline: vec4<f32>,
    width: u32,
    _p0: u32,
    _p1: u32,
    _p2: u32,
}

const TILE: i32 = 8;
const MIXED: u32 = 0xffffffffu;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var frame_tex: texture_2d<f32>;
// The id map is stored column-major, i.e. transposed: texel (y, x).
@group(0) @binding(2) var id_tex: texture_2d<u32>;
// Tile map, column-major: tiles[tx * grid.y + ty]. A buffer rather than a
// second integer texture: wgpu's GL backend mixed up two uint textures here.
@group(0) @binding(3) var<storage, read> tiles: array<u32>;
@group(0) @binding(4) var<storage, read> styles: array<Style>;

@vertex
fn vs_main(@builtin(vertex_index) i: u32) -> @builtin(position) vec4<f32> {
    let uv = vec2<f32>(f32((i << 1u) & 2u), f32(i & 2u));
    return vec4<f32>(uv * 2.0 - 1.0, 0.0, 1.0);
}

fn id_at(p: vec2<i32>) -> u32 {
    return textureLoad(id_tex, vec2<i32>(p.y, p.x), 0).x;
}

fn texel(p: vec2<i32>) -> vec3<f32> {
    return textureLoad(frame_tex, p, 0).rgb;
}

fn bilinear(f: vec2<f32>, size: vec2<i32>) -> vec3<f32> {
    let s = f - 0.5;
    let base = floor(s);
    let t = s - base;
    let a = clamp(vec2<i32>(base), vec2<i32>(0), size - 1);
    let b = clamp(vec2<i32>(base) + 1, vec2<i32>(0), size - 1);
    let p00 = texel(vec2<i32>(a.x, a.y));
    let p10 = texel(vec2<i32>(b.x, a.y));
    let p01 = texel(vec2<i32>(a.x, b.y));
    let p11 = texel(vec2<i32>(b.x, b.y));
    let top = p00 + (p10 - p00) * t.x;
    let bottom = p01 + (p11 - p01) * t.x;
    return top + (bottom - top) * t.y;
}

// Whether some pixel within Chebyshev distance w (inside the frame) shows
// another id. The tiles the square [p - w, p + w] overlaps are checked
// first: when all of them hold only `id`, the answer is no without touching
// the id map, which is the case away from edges.
fn is_edge(p: vec2<i32>, id: u32, w: i32, size: vec2<i32>) -> bool {
    let lo = max(p - vec2<i32>(w), vec2<i32>(0));
    let hi = min(p + vec2<i32>(w), size - 1);
    let grid_h = i32(params.tile_grid.y);
    var uniform_tiles = true;
    for (var tx = lo.x / TILE; tx <= hi.x / TILE; tx++) {
        for (var ty = lo.y / TILE; ty <= hi.y / TILE; ty++) {
            if tiles[u32(tx * grid_h + ty)] != id {
                uniform_tiles = false;
            }
        }
    }
    if uniform_tiles {
        return false;
    }
    for (var x = lo.x; x <= hi.x; x++) {
        for (var y = lo.y; y <= hi.y; y++) {
            if id_at(vec2<i32>(x, y)) != id {
                return true;
            }
        }
    }
    return false;
}

fn srgb_to_linear(c: vec3<f32>) -> vec3<f32> {
    let lo = c / 12.92;
    let hi = pow((c + 0.055) / 1.055, vec3<f32>(2.4));
    return select(hi, lo, c <= vec3<f32>(0.04045));
}

fn encode(c: vec3<f32>) -> vec4<f32> {
    if params.out_srgb != 0u {
        return vec4<f32>(srgb_to_linear(c), 1.0);
    }
    return vec4<f32>(c, 1.0);
}

@fragment
fn fs_main(@builtin(position) pos: vec4<f32>) -> @location(0) vec4<f32> {
    let f = (pos.xy - params.pan) * params.inv_zoom;
    let sizef = vec2<f32>(params.frame_size);
    if !(f.x >= 0.0 && f.y >= 0.0 && f.x < sizef.x && f.y < sizef.y) {
        return encode(params.background.rgb);
    }
    let size = vec2<i32>(params.frame_size);
    let p = min(vec2<i32>(floor(f)), size - 1);
    var color: vec3<f32>;
    if params.nearest != 0u {
        color = texel(p);
    } else {
        color = bilinear(f, size);
    }
    if params.has_masks != 0u {
        let id = id_at(p);
        if id != 0u {
            let style = styles[id - 1u];
            var tint = style.fill;
            if style.width > 0u && is_edge(p, id, i32(style.width), size) {
                tint = style.outline;
            }
            color = color + (tint.rgb - color) * tint.a;
        }
    }
    return encode(color);
}
