//! Searching the machines on offer, in the style of vast.ai's offer search:
//! `gpu_model=H100 vram>=80 price<=2.5 verified=true`, sorted by `-o price,-gops`.
//!
//! Fields (units are what people type: GB, GPN per hour):
//! `id`, `gpu_model`, `gpu_vendor`, `num_gpus`, `vram` (GB per GPU), `cpu`
//! (cores), `ram` (GB), `disk` (GB), `region`, `price` (base GPN/hour),
//! `gpu_price` (GPN per GPU-hour on top of the base), `online`,
//! `verified` (passed its hardware challenge), `gops` (proven int8 giga-ops/s),
//! `reliability` (completed / (completed + failed) leases, 1 without history),
//! `leases` (running now), `owner` (the provider's address). Text fields
//! compare case-insensitively, and `=` on `gpu_model` matches a substring
//! ("H100" finds "NVIDIA H100 80GB HBM3").
//!
//! Nodes run the search (`GET /v1/machines?q=…&order=…&limit=…`), so a
//! client of a large network downloads only what it asked for.

use crate::machine::{HardwareStatus, Machine};
use gpunet_primitives::UNIT;
use std::cmp::Ordering;

/// A query that does not parse, and why.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct QueryError(String);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    Id,
    GpuModel,
    GpuVendor,
    NumGpus,
    Vram,
    Cpu,
    Ram,
    Disk,
    Region,
    Price,
    GpuPrice,
    Online,
    Verified,
    Gops,
    Reliability,
    Leases,
    Owner,
}

const FIELDS: &[(&str, Field)] = &[
    ("id", Field::Id),
    ("gpu_model", Field::GpuModel),
    ("gpu_vendor", Field::GpuVendor),
    ("num_gpus", Field::NumGpus),
    ("vram", Field::Vram),
    ("cpu", Field::Cpu),
    ("ram", Field::Ram),
    ("disk", Field::Disk),
    ("region", Field::Region),
    ("price", Field::Price),
    ("gpu_price", Field::GpuPrice),
    ("online", Field::Online),
    ("verified", Field::Verified),
    ("gops", Field::Gops),
    ("reliability", Field::Reliability),
    ("leases", Field::Leases),
    ("owner", Field::Owner),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Ge,
    Le,
    Gt,
    Lt,
}

#[derive(Clone, Debug, PartialEq)]
enum Value {
    Num(f64),
    Text(String),
    Bool(bool),
}

/// The reliability of a machine from its lease history (1 without history):
/// the ledger's own measure, as a fraction.
pub fn reliability(m: &Machine) -> f64 {
    f64::from(m.reliability_bps()) / 10_000.0
}

fn gb(mb: u64) -> f64 {
    mb as f64 / 1024.0
}

fn value(m: &Machine, field: Field) -> Value {
    let gpu = m.spec.gpu.as_ref();
    match field {
        Field::Id => Value::Num(m.id as f64),
        Field::GpuModel => Value::Text(gpu.map_or(String::new(), |g| g.model.clone())),
        Field::GpuVendor => Value::Text(gpu.map_or(String::new(), |g| g.vendor.clone())),
        Field::NumGpus => Value::Num(f64::from(m.spec.gpu_count())),
        Field::Vram => Value::Num(gpu.map_or(0.0, |g| gb(g.vram_mb))),
        Field::Cpu => Value::Num(f64::from(m.spec.cpu_cores)),
        Field::Ram => Value::Num(gb(m.spec.memory_mb)),
        Field::Disk => Value::Num(gb(m.spec.disk_mb)),
        Field::Region => Value::Text(m.spec.region.clone()),
        Field::Price => Value::Num(m.price_per_hour as f64 / UNIT as f64),
        Field::GpuPrice => Value::Num(m.resource_prices.per_gpu_hour as f64 / UNIT as f64),
        Field::Online => Value::Bool(m.online),
        Field::Verified => Value::Bool(m.hardware == HardwareStatus::Verified),
        Field::Gops => Value::Num(m.compute_gops as f64),
        Field::Reliability => Value::Num(reliability(m)),
        Field::Leases => Value::Num(f64::from(m.active_leases)),
        Field::Owner => Value::Text(m.owner.to_string()),
    }
}

fn compare(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Num(x), Value::Num(y)) => x.total_cmp(y),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Text(x), Value::Text(y)) => x.to_lowercase().cmp(&y.to_lowercase()),
        _ => Ordering::Equal,
    }
}

#[derive(Clone, Debug, PartialEq)]
struct Filter {
    field: Field,
    op: Op,
    value: Value,
    /// The filter as the user wrote it, to say which ones a machine misses.
    term: String,
}

impl Filter {
    fn matches(&self, m: &Machine) -> bool {
        let have = value(m, self.field);
        if let (Field::GpuModel, Op::Eq, Value::Text(want), Value::Text(model)) =
            (self.field, self.op, &self.value, &have)
        {
            return model.to_lowercase().contains(&want.to_lowercase());
        }
        let ord = compare(&have, &self.value);
        match self.op {
            Op::Eq => ord == Ordering::Equal,
            Op::Ne => ord != Ordering::Equal,
            Op::Ge => ord != Ordering::Less,
            Op::Le => ord != Ordering::Greater,
            Op::Gt => ord == Ordering::Greater,
            Op::Lt => ord == Ordering::Less,
        }
    }
}

/// The fields a query filters and sorts on, as it spells them.
pub fn field_names() -> impl Iterator<Item = &'static str> {
    FIELDS.iter().map(|(name, _)| *name)
}

fn field(name: &str) -> Result<Field, QueryError> {
    FIELDS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, f)| *f)
        .ok_or_else(|| {
            let known: Vec<&str> = field_names().collect();
            QueryError(format!(
                "unknown field {name:?}; fields are {}",
                known.join(", ")
            ))
        })
}

fn parse_filter(term: &str) -> Result<Filter, QueryError> {
    // Two-character operators first, so ">=" is not read as ">".
    const OPS: [(&str, Op); 6] = [
        (">=", Op::Ge),
        ("<=", Op::Le),
        ("!=", Op::Ne),
        ("=", Op::Eq),
        (">", Op::Gt),
        ("<", Op::Lt),
    ];
    let (at, sym, op) = OPS
        .iter()
        .filter_map(|(sym, op)| term.find(sym).map(|at| (at, *sym, *op)))
        .min_by_key(|(at, sym, _)| (*at, std::cmp::Reverse(sym.len())))
        .ok_or_else(|| {
            QueryError(format!(
                "{term:?} is not a filter: write FIELD OP VALUE with OP one of = != >= <= > <"
            ))
        })?;
    let name = term[..at].trim();
    let raw = term[at + sym.len()..].trim();
    let field = field(name)?;
    let value = match value_kind(field) {
        Kind::Num => Value::Num(
            raw.parse::<f64>()
                .map_err(|_| QueryError(format!("{name} takes a number, not {raw:?}")))?,
        ),
        Kind::Bool => Value::Bool(match raw {
            "true" | "yes" | "1" => true,
            "false" | "no" | "0" => false,
            _ => return Err(QueryError(format!("{name} is true or false, not {raw:?}"))),
        }),
        Kind::Text => Value::Text(raw.to_string()),
    };
    Ok(Filter {
        field,
        op,
        value,
        term: term.trim().to_string(),
    })
}

enum Kind {
    Num,
    Bool,
    Text,
}

fn value_kind(field: Field) -> Kind {
    match field {
        Field::GpuModel | Field::GpuVendor | Field::Region | Field::Owner => Kind::Text,
        Field::Online | Field::Verified => Kind::Bool,
        _ => Kind::Num,
    }
}

/// Filters and an ordering over machines.
#[derive(Clone, Debug, Default)]
pub struct Query {
    filters: Vec<Filter>,
    /// Fields to sort by, each descending when `true`.
    order: Vec<(Field, bool)>,
}

impl Query {
    /// Parses filter terms (`vram>=80`; terms may also be separated by spaces
    /// inside one argument) and an order (`price` or `-gops,price`).
    pub fn parse(terms: &[String], order: Option<&str>) -> Result<Query, QueryError> {
        let filters = terms
            .iter()
            .flat_map(|t| t.split_whitespace())
            .map(parse_filter)
            .collect::<Result<_, _>>()?;
        let order = order
            .into_iter()
            .flat_map(|o| o.split(','))
            .filter(|k| !k.trim().is_empty())
            .map(|k| {
                let k = k.trim();
                let (desc, name) = k.strip_prefix('-').map_or((false, k), |n| (true, n));
                field(name).map(|f| (f, desc))
            })
            .collect::<Result<_, _>>()?;
        Ok(Query { filters, order })
    }

    /// Whether `m` passes every filter.
    pub fn matches(&self, m: &Machine) -> bool {
        self.filters.iter().all(|f| f.matches(m))
    }

    /// The filters `m` does not pass, as the user wrote them.
    pub fn unmet(&self, m: &Machine) -> Vec<String> {
        self.filters
            .iter()
            .filter(|f| !f.matches(m))
            .map(|f| f.term.clone())
            .collect()
    }

    /// The `limit` machines that miss the fewest filters (then in the
    /// query's order), each with the filters it misses: what a search that
    /// found nothing comes closest to.
    pub fn closest<'m>(
        &self,
        machines: impl Iterator<Item = &'m Machine>,
        limit: usize,
    ) -> Vec<NearMiss> {
        // Counted first, named only for the machines returned: a search runs
        // over every registered machine under the ledger's lock.
        let mut misses: Vec<(usize, &Machine)> = machines
            .map(|m| (self.filters.iter().filter(|f| !f.matches(m)).count(), m))
            .collect();
        misses.sort_by(|(a, am), (b, bm)| a.cmp(b).then_with(|| self.compare(am, bm)));
        misses
            .into_iter()
            .take(limit)
            .map(|(_, m)| NearMiss {
                machine: m.clone(),
                unmet: self.unmet(m),
            })
            .collect()
    }

    /// How `a` and `b` compare in the requested order (then by id).
    fn compare(&self, a: &Machine, b: &Machine) -> Ordering {
        self.order
            .iter()
            .map(|(f, desc)| {
                let ord = compare(&value(a, *f), &value(b, *f));
                if *desc {
                    ord.reverse()
                } else {
                    ord
                }
            })
            .find(|o| *o != Ordering::Equal)
            .unwrap_or_else(|| a.id.cmp(&b.id))
    }

    /// Puts `machines` in the requested order (then by id).
    pub fn sort<M: std::borrow::Borrow<Machine>>(&self, machines: &mut [M]) {
        machines.sort_by(|a, b| self.compare(a.borrow(), b.borrow()));
    }
}

/// A machine a search did not find, and the filters it missed
/// (`GET /v1/machines/closest`).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NearMiss {
    /// The machine.
    pub machine: Machine,
    /// The filter terms it does not meet, as written in the query.
    pub unmet: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::Allocation;
    use gpunet_primitives::{Address, GpuSpec, MachineSpec};

    fn machine(id: u64, model: Option<(&str, u32, u64)>, price: f64, gops: u64) -> Machine {
        Machine {
            id,
            owner: Address([id as u8; 32]),
            spec: MachineSpec {
                cpu_cores: 16,
                memory_mb: 64 * 1024,
                disk_mb: 500 * 1024,
                gpu: model.map(|(m, count, vram_gb)| GpuSpec {
                    vendor: "nvidia".into(),
                    model: m.into(),
                    count,
                    vram_mb: vram_gb * 1024,
                }),
                region: if id.is_multiple_of(2) {
                    "eu-west"
                } else {
                    "us-east"
                }
                .into(),
                executor: "docker".into(),
            },
            price_per_hour: (price * UNIT as f64) as u128,
            resource_prices: Default::default(),
            online: true,
            registered_ms: 0,
            allocated: Allocation::default(),
            active_leases: 0,
            last_leased_ms: None,
            completed: id * 3,
            failed: id % 3,
            declined: 0,
            gpu_model_id: 0,
            hardware: if gops > 0 {
                HardwareStatus::Verified
            } else {
                HardwareStatus::Unverified
            },
            challenge: None,
            compute_gops: gops,
            cpu_mops: 0,
            challenges_passed: u32::from(gops > 0),
        }
    }

    fn market() -> Vec<Machine> {
        vec![
            machine(0, Some(("NVIDIA H100 80GB HBM3", 8, 80)), 2.4, 400_000),
            machine(1, Some(("NVIDIA H100 PCIe", 1, 80)), 2.1, 300_000),
            machine(2, Some(("NVIDIA GeForce RTX 4090", 1, 24)), 0.4, 150_000),
            machine(3, Some(("NVIDIA A100-SXM4-40GB", 4, 40)), 1.2, 0),
            machine(4, None, 0.05, 20),
        ]
    }

    fn ids(terms: &[&str], order: Option<&str>) -> Vec<u64> {
        let terms: Vec<String> = terms.iter().map(|t| t.to_string()).collect();
        let query = Query::parse(&terms, order).unwrap();
        let mut found: Vec<Machine> = market().into_iter().filter(|m| query.matches(m)).collect();
        query.sort(&mut found);
        found.iter().map(|m| m.id).collect()
    }

    #[test]
    fn filters_like_an_offer_search() {
        assert_eq!(
            ids(&["gpu_model=H100", "vram>=80", "price<=2.5"], None),
            [0, 1]
        );
        assert_eq!(ids(&["gpu_model=h100 num_gpus>=2"], None), [0]);
        assert_eq!(ids(&["verified=true", "price<1"], None), [2, 4]);
        assert_eq!(ids(&["num_gpus=0"], None), [4]);
        assert_eq!(ids(&["region=EU-WEST"], None), [0, 2, 4]);
        assert_eq!(ids(&["gpu_vendor!=nvidia"], None), [4]);
        assert_eq!(ids(&["reliability>0.8", "ram>=64"], None), [0, 3, 4]);
        let owner = Address([2; 32]).to_string().to_uppercase();
        assert_eq!(ids(&[&format!("owner={owner}")], None), [2]);
    }

    #[test]
    fn sorts_ascending_descending_and_by_several_keys() {
        assert_eq!(ids(&[], Some("price")), [4, 2, 3, 1, 0]);
        assert_eq!(ids(&[], Some("-gops")), [0, 1, 2, 4, 3]);
        assert_eq!(ids(&["num_gpus<=1"], Some("vram,-price")), [4, 2, 1]);
    }

    #[test]
    fn the_closest_offers_miss_the_fewest_filters_and_say_which() {
        let terms = ["gpu_model=H100 vram>=100 price<=2.2".to_string()];
        let query = Query::parse(&terms, Some("price")).unwrap();
        let market = market();
        assert!(market.iter().all(|m| !query.matches(m)));
        let closest = query.closest(market.iter(), 3);
        let found: Vec<(u64, Vec<String>)> = closest
            .into_iter()
            .map(|n| (n.machine.id, n.unmet))
            .collect();
        assert_eq!(
            found,
            [
                (1, vec!["vram>=100".to_string()]),
                (4, vec!["gpu_model=H100".into(), "vram>=100".into()]),
                (2, vec!["gpu_model=H100".into(), "vram>=100".into()]),
            ]
        );
    }

    #[test]
    fn bad_queries_say_what_is_wrong() {
        let err =
            |t: &str, o: Option<&str>| Query::parse(&[t.to_string()], o).unwrap_err().to_string();
        assert!(err("colour=red", None).contains("unknown field \"colour\""));
        assert!(err("vram>=lots", None).contains("takes a number"));
        assert!(err("verified=maybe", None).contains("true or false"));
        assert!(err("h100", None).contains("not a filter"));
        assert!(err("price<1", Some("speed")).contains("unknown field"));
    }
}
