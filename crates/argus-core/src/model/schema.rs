use std::{collections::BTreeMap, fmt, str::FromStr};

use serde::{Deserialize, Serialize};

use super::{ModelError, ShapeKind, check_name};
use crate::id::{LabelId, LabelSchemaId, ProjectId};

/// An sRGB colour, written `#rrggbb`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Colour {
    pub r: u8,
    pub g: u8,
    pub b: u8,
}

impl Colour {
    pub const fn rgb(r: u8, g: u8, b: u8) -> Self {
        Self { r, g, b }
    }

    /// A distinct colour for the `i`-th label (golden-angle hue steps).
    pub fn palette(i: usize) -> Self {
        let h = (i as f64 * 137.507_764) % 360.0;
        let (s, v) = (0.65, 0.95);
        let c = v * s;
        let x = c * (1.0 - ((h / 60.0) % 2.0 - 1.0).abs());
        let (r, g, b) = match (h / 60.0) as u32 {
            0 => (c, x, 0.0),
            1 => (x, c, 0.0),
            2 => (0.0, c, x),
            3 => (0.0, x, c),
            4 => (x, 0.0, c),
            _ => (c, 0.0, x),
        };
        let m = v - c;
        let to = |f: f64| ((f + m) * 255.0).round().clamp(0.0, 255.0) as u8;
        Self { r: to(r), g: to(g), b: to(b) }
    }
}

impl fmt::Display for Colour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{:02x}{:02x}{:02x}", self.r, self.g, self.b)
    }
}

impl FromStr for Colour {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ModelError::InvalidColour(s.to_owned());
        let hex = s.strip_prefix('#').ok_or_else(bad)?;
        if hex.len() != 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).map_err(|_| bad());
        Ok(Self { r: byte(0)?, g: byte(2)?, b: byte(4)? })
    }
}

impl TryFrom<String> for Colour {
    type Error = ModelError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Colour> for String {
    fn from(c: Colour) -> Self {
        c.to_string()
    }
}

/// The type of an attribute and its default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AttributeKind {
    Bool { default: bool },
    Enum { options: Vec<String>, default: String },
    Text { default: String },
    Number { min: f64, max: f64, step: f64, default: f64 },
}

/// One attribute a label carries (e.g. `occluded: bool`, `colour: enum`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttributeSpec {
    pub name: String,
    #[serde(flatten)]
    pub kind: AttributeKind,
    /// Whether the value may change from frame to frame (stored on shapes)
    /// or is fixed for the whole track.
    #[serde(default)]
    pub per_frame: bool,
}

/// A value of an attribute. Enum values are stored as their option text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AttributeValue {
    Bool(bool),
    Number(f64),
    Text(String),
}

impl AttributeValue {
    fn type_name(&self) -> String {
        match self {
            AttributeValue::Bool(b) => format!("bool {b}"),
            AttributeValue::Number(n) => format!("number {n}"),
            AttributeValue::Text(t) => format!("text '{t}'"),
        }
    }
}

/// Attribute values by attribute name.
pub type Attributes = BTreeMap<String, AttributeValue>;

impl AttributeSpec {
    fn validate(&self) -> Result<(), ModelError> {
        check_name("attribute name", &self.name, 100)?;
        let bad = |reason: String| ModelError::InvalidAttributeSpec { attribute: self.name.clone(), reason };
        match &self.kind {
            AttributeKind::Bool { .. } | AttributeKind::Text { .. } => Ok(()),
            AttributeKind::Enum { options, default } => {
                if options.is_empty() {
                    return Err(bad("an enum needs at least one option".into()));
                }
                let mut seen = std::collections::BTreeSet::new();
                if let Some(dup) = options.iter().find(|o| !seen.insert(o.as_str())) {
                    return Err(bad(format!("option '{dup}' appears twice")));
                }
                if !options.contains(default) {
                    return Err(bad(format!("default '{default}' is not one of the options")));
                }
                Ok(())
            }
            AttributeKind::Number { min, max, step, default } => {
                if ![min, max, step, default].iter().all(|v| v.is_finite()) {
                    return Err(bad("min, max, step and default must be finite numbers".into()));
                }
                if min > max || *step < 0.0 {
                    return Err(bad(format!("range {min}..{max} with step {step} is invalid")));
                }
                if default < min || default > max {
                    return Err(bad(format!("default {default} is outside {min}..{max}")));
                }
                Ok(())
            }
        }
    }

    pub fn default_value(&self) -> AttributeValue {
        match &self.kind {
            AttributeKind::Bool { default } => AttributeValue::Bool(*default),
            AttributeKind::Enum { default, .. } | AttributeKind::Text { default } => AttributeValue::Text(default.clone()),
            AttributeKind::Number { default, .. } => AttributeValue::Number(*default),
        }
    }

    /// Checks that `value` fits this attribute's type and range.
    pub fn check(&self, value: &AttributeValue) -> Result<(), ModelError> {
        let mismatch = |expected: String| ModelError::AttributeType {
            attribute: self.name.clone(),
            expected,
            got: value.type_name(),
        };
        match (&self.kind, value) {
            (AttributeKind::Bool { .. }, AttributeValue::Bool(_)) => Ok(()),
            (AttributeKind::Text { .. }, AttributeValue::Text(_)) => Ok(()),
            (AttributeKind::Enum { options, .. }, AttributeValue::Text(t)) if options.contains(t) => Ok(()),
            (AttributeKind::Enum { options, .. }, _) => Err(mismatch(format!("one of {options:?}"))),
            (AttributeKind::Number { min, max, .. }, AttributeValue::Number(n)) if n.is_finite() && n >= min && n <= max => {
                Ok(())
            }
            (AttributeKind::Number { min, max, .. }, _) => Err(mismatch(format!("a number in {min}..={max}"))),
            (AttributeKind::Bool { .. }, _) => Err(mismatch("a bool".into())),
            (AttributeKind::Text { .. }, _) => Err(mismatch("text".into())),
        }
    }
}

/// A class of object: its name, colour, the shape kinds it may be drawn
/// with, and its attributes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Label {
    pub id: LabelId,
    pub name: String,
    pub colour: Colour,
    pub kinds: Vec<ShapeKind>,
    #[serde(default)]
    pub attributes: Vec<AttributeSpec>,
}

impl Label {
    /// A label with a palette colour, drawable with any shape kind.
    pub fn new(name: &str, colour: Colour) -> Self {
        Self { id: LabelId::new(), name: name.trim().to_owned(), colour, kinds: ShapeKind::ALL.to_vec(), attributes: Vec::new() }
    }

    pub fn with_kinds(mut self, kinds: &[ShapeKind]) -> Self {
        self.kinds = kinds.to_vec();
        self
    }

    pub fn with_attribute(mut self, spec: AttributeSpec) -> Self {
        self.attributes.push(spec);
        self
    }

    pub fn attribute(&self, name: &str) -> Option<&AttributeSpec> {
        self.attributes.iter().find(|a| a.name == name)
    }

    /// Every attribute at its default, split by scope: `(track, per_frame)`.
    pub fn default_attributes(&self) -> (Attributes, Attributes) {
        let mut track = Attributes::new();
        let mut frame = Attributes::new();
        for a in &self.attributes {
            let target = if a.per_frame { &mut frame } else { &mut track };
            target.insert(a.name.clone(), a.default_value());
        }
        (track, frame)
    }

    /// Checks every value against this label's attribute specs.
    pub fn check_attributes(&self, values: &Attributes) -> Result<(), ModelError> {
        for (name, value) in values {
            let spec = self.attribute(name).ok_or_else(|| ModelError::UnknownAttribute {
                label: self.name.clone(),
                attribute: name.clone(),
            })?;
            spec.check(value)?;
        }
        Ok(())
    }

    pub fn check_kind(&self, kind: ShapeKind) -> Result<(), ModelError> {
        if self.kinds.contains(&kind) {
            Ok(())
        } else {
            Err(ModelError::ShapeKindNotAllowed { label: self.name.clone(), kind, allowed: self.kinds.clone() })
        }
    }

    fn validate(&self) -> Result<(), ModelError> {
        check_name("label name", &self.name, 100)?;
        if self.kinds.is_empty() {
            return Err(ModelError::NoShapeKinds(self.name.clone()));
        }
        let mut seen = std::collections::BTreeSet::new();
        for a in &self.attributes {
            a.validate()?;
            if !seen.insert(a.name.as_str()) {
                return Err(ModelError::DuplicateAttribute { label: self.name.clone(), attribute: a.name.clone() });
            }
        }
        Ok(())
    }
}

/// The labels of a project. A schema is versioned: each edit bumps the
/// version so clients notice a changed schema when they sync.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "SchemaRepr", into = "SchemaRepr")]
pub struct LabelSchema {
    id: LabelSchemaId,
    project_id: ProjectId,
    version: u32,
    labels: Vec<Label>,
}

#[derive(Serialize, Deserialize)]
struct SchemaRepr {
    id: LabelSchemaId,
    project_id: ProjectId,
    version: u32,
    labels: Vec<Label>,
}

impl LabelSchema {
    /// A validated schema: names unique (case-insensitively), every label and
    /// attribute well formed.
    pub fn new(id: LabelSchemaId, project_id: ProjectId, version: u32, labels: Vec<Label>) -> Result<Self, ModelError> {
        let mut seen = std::collections::BTreeSet::new();
        for l in &labels {
            l.validate()?;
            if !seen.insert(l.name.to_lowercase()) {
                return Err(ModelError::DuplicateLabel(l.name.clone()));
            }
        }
        Ok(Self { id, project_id, version, labels })
    }

    pub fn id(&self) -> LabelSchemaId {
        self.id
    }

    pub fn project_id(&self) -> ProjectId {
        self.project_id
    }

    pub fn version(&self) -> u32 {
        self.version
    }

    pub fn labels(&self) -> &[Label] {
        &self.labels
    }

    pub fn label(&self, id: LabelId) -> Result<&Label, ModelError> {
        self.labels.iter().find(|l| l.id == id).ok_or(ModelError::UnknownLabel(id))
    }

    pub fn label_by_name(&self, name: &str) -> Option<&Label> {
        self.labels.iter().find(|l| l.name.eq_ignore_ascii_case(name))
    }

    /// A new version with `labels`, validated like [`LabelSchema::new`].
    pub fn with_labels(&self, labels: Vec<Label>) -> Result<Self, ModelError> {
        Self::new(self.id, self.project_id, self.version.saturating_add(1), labels)
    }
}

impl TryFrom<SchemaRepr> for LabelSchema {
    type Error = ModelError;
    fn try_from(r: SchemaRepr) -> Result<Self, Self::Error> {
        Self::new(r.id, r.project_id, r.version, r.labels)
    }
}

impl From<LabelSchema> for SchemaRepr {
    fn from(s: LabelSchema) -> Self {
        SchemaRepr { id: s.id, project_id: s.project_id, version: s.version, labels: s.labels }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn occluded() -> AttributeSpec {
        AttributeSpec { name: "occluded".into(), kind: AttributeKind::Bool { default: false }, per_frame: true }
    }

    fn colour() -> AttributeSpec {
        AttributeSpec {
            name: "colour".into(),
            kind: AttributeKind::Enum { options: vec!["red".into(), "blue".into()], default: "red".into() },
            per_frame: false,
        }
    }

    #[test]
    fn colours_parse_and_print() {
        assert_eq!("#ff8000".parse::<Colour>(), Ok(Colour::rgb(255, 128, 0)));
        assert_eq!(Colour::rgb(1, 2, 255).to_string(), "#0102ff");
        for bad in ["ff8000", "#ff80", "#gg0000", "#ff80001", ""] {
            assert!(bad.parse::<Colour>().is_err(), "{bad}");
        }
        let p: Vec<_> = (0..8).map(Colour::palette).collect();
        for i in 0..8 {
            for j in i + 1..8 {
                assert_ne!(p[i], p[j]);
            }
        }
    }

    #[test]
    fn schema_validates_labels_and_attributes() {
        let (p, s) = (ProjectId::new(), LabelSchemaId::new());
        let car = Label::new("car", Colour::palette(0)).with_attribute(occluded()).with_attribute(colour());
        let person = Label::new("person", Colour::palette(1)).with_kinds(&[ShapeKind::Mask, ShapeKind::Polygon]);
        let schema = LabelSchema::new(s, p, 1, vec![car.clone(), person.clone()]).expect("valid");
        assert_eq!(schema.label_by_name("CAR").map(|l| l.id), Some(car.id));
        assert!(matches!(
            LabelSchema::new(s, p, 1, vec![car.clone(), Label::new("Car", Colour::palette(2))]),
            Err(ModelError::DuplicateLabel(_))
        ));
        assert!(matches!(LabelSchema::new(s, p, 1, vec![Label::new("  ", Colour::palette(0))]), Err(ModelError::Empty { .. })));
        let bad_enum = AttributeSpec {
            name: "x".into(),
            kind: AttributeKind::Enum { options: vec!["a".into()], default: "b".into() },
            per_frame: false,
        };
        assert!(matches!(
            LabelSchema::new(s, p, 1, vec![Label::new("a", Colour::palette(0)).with_attribute(bad_enum)]),
            Err(ModelError::InvalidAttributeSpec { .. })
        ));
        let bad_num = AttributeSpec {
            name: "n".into(),
            kind: AttributeKind::Number { min: 0.0, max: 1.0, step: 0.1, default: 2.0 },
            per_frame: false,
        };
        assert!(LabelSchema::new(s, p, 1, vec![Label::new("a", Colour::palette(0)).with_attribute(bad_num)]).is_err());
        assert!(person.check_kind(ShapeKind::BBox).is_err());
        assert!(person.check_kind(ShapeKind::Mask).is_ok());
        let json = serde_json::to_string(&schema).expect("json");
        assert_eq!(serde_json::from_str::<LabelSchema>(&json).expect("round trip"), schema);
        let next = schema.with_labels(vec![car]).expect("valid");
        assert_eq!(next.version(), 2);
    }

    #[test]
    fn attribute_values_are_checked() {
        let car = Label::new("car", Colour::palette(0)).with_attribute(occluded()).with_attribute(colour());
        let (track, frame) = car.default_attributes();
        assert_eq!(track.get("colour"), Some(&AttributeValue::Text("red".into())));
        assert_eq!(frame.get("occluded"), Some(&AttributeValue::Bool(false)));
        car.check_attributes(&track).expect("defaults are valid");
        let mut bad = Attributes::new();
        bad.insert("colour".into(), AttributeValue::Text("green".into()));
        assert!(matches!(car.check_attributes(&bad), Err(ModelError::AttributeType { .. })));
        let mut unknown = Attributes::new();
        unknown.insert("speed".into(), AttributeValue::Number(3.0));
        assert!(matches!(car.check_attributes(&unknown), Err(ModelError::UnknownAttribute { .. })));
        let v: AttributeValue = serde_json::from_str("1.5").expect("json");
        assert_eq!(v, AttributeValue::Number(1.5));
    }
}
