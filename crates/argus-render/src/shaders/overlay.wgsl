// Anti-aliased capsules and rings, one instance each. Semantics: src/overlay.rs.

struct OverlayParams {
    out_size: vec2<f32>,
    out_srgb: u32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> ov: OverlayParams;
// Polygon edges (x0, y0, x1, y1) of filled polygons.
@group(0) @binding(1) var<storage, read> edges: array<vec4<f32>>;

struct Instance {
    @location(0) ab: vec4<f32>,
    // half width, ring radius, first edge, edge count (fills)
    @location(1) shape: vec4<f32>,
    @location(2) color: vec4<f32>,
}

struct VOut {
    @builtin(position) pos: vec4<f32>,
    @location(0) @interpolate(flat) ab: vec4<f32>,
    @location(1) @interpolate(flat) shape: vec4<f32>,
    @location(2) @interpolate(flat) color: vec4<f32>,
}

@vertex
fn vs_overlay(@builtin(vertex_index) vi: u32, inst: Instance) -> VOut {
    let r = inst.shape.x + inst.shape.y + 1.0;
    let lo = min(inst.ab.xy, inst.ab.zw) - r;
    let hi = max(inst.ab.xy, inst.ab.zw) + r;
    // Two triangles: corners (0,0) (1,0) (0,1) / (0,1) (1,0) (1,1).
    var corners = array<vec2<f32>, 6>(
        vec2<f32>(0.0, 0.0), vec2<f32>(1.0, 0.0), vec2<f32>(0.0, 1.0),
        vec2<f32>(0.0, 1.0), vec2<f32>(1.0, 0.0), vec2<f32>(1.0, 1.0),
    );
    let s = lo + (hi - lo) * corners[vi % 6u];
    var out: VOut;
    out.pos = vec4<f32>(s.x / ov.out_size.x * 2.0 - 1.0, 1.0 - s.y / ov.out_size.y * 2.0, 0.0, 1.0);
    out.ab = inst.ab;
    out.shape = inst.shape;
    out.color = inst.color;
    return out;
}

fn segment_distance(a: vec2<f32>, b: vec2<f32>, p: vec2<f32>) -> f32 {
    let pa = p - a;
    let ba = b - a;
    let bb = dot(ba, ba);
    var t = 0.0;
    if bb > 0.0 {
        t = clamp(dot(pa, ba) / bb, 0.0, 1.0);
    }
    return length(pa - ba * t);
}

// Even-odd fill: distance to the nearest edge, negative inside.
fn fill_distance(p: vec2<f32>, first: u32, count: u32) -> f32 {
    var inside = false;
    var best = 3.0e38;
    for (var i = 0u; i < count; i++) {
        let e = edges[first + i];
        best = min(best, segment_distance(e.xy, e.zw, p));
        if (e.y > p.y) != (e.w > p.y) {
            let x = e.x + (p.y - e.y) * (e.z - e.x) / (e.w - e.y);
            if p.x < x {
                inside = !inside;
            }
        }
    }
    return select(best, -best, inside);
}

fn distance_to(p: vec2<f32>, ab: vec4<f32>, shape: vec4<f32>) -> f32 {
    if shape.w > 0.0 {
        return fill_distance(p, u32(shape.z), u32(shape.w));
    }
    if shape.y > 0.0 {
        return abs(length(p - ab.xy) - shape.y) - shape.x;
    }
    return segment_distance(ab.xy, ab.zw, p) - shape.x;
}

fn srgb_to_linear(c: vec3<f32>) -> vec3<f32> {
    let lo = c / 12.92;
    let hi = pow((c + 0.055) / 1.055, vec3<f32>(2.4));
    return select(hi, lo, c <= vec3<f32>(0.04045));
}

@fragment
fn fs_overlay(in: VOut) -> @location(0) vec4<f32> {
    let d = distance_to(in.pos.xy, in.ab, in.shape);
    let coverage = clamp(0.5 - d, 0.0, 1.0);
    var rgb = in.color.rgb;
    if ov.out_srgb != 0u {
        rgb = srgb_to_linear(rgb);
    }
    return vec4<f32>(rgb, in.color.a * coverage);
}
