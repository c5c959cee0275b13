//! Fairness between tenants and the limits on tenants and plugins, as both stores apply them
//! inside a claim.
//!
//! A claim takes turns: it finds the tenants (jobs without a tenant count as one more) that have
//! runnable jobs in the queue, starting after the tenant it served last, reads a short window of
//! each one's jobs in their usual order (priority, then `run_at`, then id), and interleaves them:
//! the first job of every tenant, then the second of every tenant, and so on. Then the limits
//! decide which of those candidates may start; the rest stay queued. Both backends gather the
//! candidates and the counts in their own SQL and share [`admit`], so they decide alike.

use std::collections::HashMap;

use super::JobId;

/// What a limit applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitScope {
    /// Jobs of one tenant, in every queue.
    Tenant,
    /// Jobs that run one plugin, for every tenant.
    Plugin,
}

impl LimitScope {
    pub fn as_str(self) -> &'static str {
        match self {
            LimitScope::Tenant => "tenant",
            LimitScope::Plugin => "plugin",
        }
    }

    pub fn parse(text: &str) -> Option<LimitScope> {
        match text {
            "tenant" => Some(LimitScope::Tenant),
            "plugin" => Some(LimitScope::Plugin),
            _ => None,
        }
    }
}

/// The name of a limit that applies to every tenant (or plugin) without a limit of its own.
pub const EVERY: &str = "*";

/// A concurrency and/or rate limit on a tenant or a plugin.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct JobLimit {
    pub scope: LimitScope,
    /// A tenant id or plugin id, or [`EVERY`].
    pub name: String,
    /// At most this many of its jobs run at once, on all nodes together.
    pub max_running: Option<u32>,
    /// At most this many of its jobs start per second, on all nodes together (a token bucket).
    pub rate_per_second: Option<f64>,
    /// How many starts the bucket holds; `None`: one second's worth (at least 1).
    pub burst: Option<u32>,
}

impl JobLimit {
    /// The size of the token bucket, when there is a rate.
    pub fn bucket_size(&self) -> Option<f64> {
        let rate = self.rate_per_second?;
        Some(match self.burst {
            Some(burst) => f64::from(burst.max(1)),
            None => rate.ceil().max(1.0),
        })
    }
}

/// A tenant or plugin a limit counts: `(scope, name)` with the real name, never [`EVERY`].
pub(crate) type LimitKey = (LimitScope, String);

/// The limits in force, looked up by the tenant or plugin they apply to.
#[derive(Debug, Clone, Default)]
pub(crate) struct Limits {
    exact: HashMap<LimitKey, JobLimit>,
    every: HashMap<LimitScope, JobLimit>,
}

impl Limits {
    pub(crate) fn new(limits: Vec<JobLimit>) -> Limits {
        let mut table = Limits::default();
        for limit in limits {
            if limit.name == EVERY {
                table.every.insert(limit.scope, limit);
            } else {
                table.exact.insert((limit.scope, limit.name.clone()), limit);
            }
        }
        table
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.every.is_empty()
    }

    /// The limit that applies to `name` in `scope`, if any.
    pub(crate) fn applying(&self, scope: LimitScope, name: &str) -> Option<&JobLimit> {
        self.exact
            .get(&(scope, name.to_owned()))
            .or_else(|| self.every.get(&scope))
    }

    /// The limited keys a job counts against: its tenant (jobs without one have no tenant limit)
    /// and its plugin.
    pub(crate) fn keys_of(&self, tenant: &str, plugin: Option<&str>) -> Vec<LimitKey> {
        let mut keys = Vec::new();
        if !tenant.is_empty() && self.applying(LimitScope::Tenant, tenant).is_some() {
            keys.push((LimitScope::Tenant, tenant.to_owned()));
        }
        if let Some(plugin) = plugin {
            if self.applying(LimitScope::Plugin, plugin).is_some() {
                keys.push((LimitScope::Plugin, plugin.to_owned()));
            }
        }
        keys
    }
}

/// A queued job a claim may start, in the claim's interleaved order.
#[derive(Debug, Clone)]
pub(crate) struct Candidate {
    pub id: JobId,
    /// The tenant, `""` for none.
    pub tenant: String,
    pub plugin: Option<String>,
}

/// What the store read about the keys the candidates count against.
#[derive(Debug, Default)]
pub(crate) struct LimitCounts {
    /// Running jobs per key.
    pub running: HashMap<LimitKey, u64>,
    /// Tokens in each key's bucket, already refilled up to now. A key with a rate and no entry
    /// has a full bucket.
    pub tokens: HashMap<LimitKey, f64>,
}

impl LimitCounts {
    /// Whether a job of `tenant` may start as far as the tenant's own limit goes.
    pub(crate) fn tenant_open(&self, limits: &Limits, tenant: &str) -> bool {
        if tenant.is_empty() {
            return true;
        }
        let Some(limit) = limits.applying(LimitScope::Tenant, tenant) else {
            return true;
        };
        let key = (LimitScope::Tenant, tenant.to_owned());
        let under_max = limit
            .max_running
            .is_none_or(|max| self.running.get(&key).copied().unwrap_or(0) < u64::from(max));
        let has_token = limit
            .bucket_size()
            .is_none_or(|size| self.tokens.get(&key).copied().unwrap_or(size) >= 1.0);
        under_max && has_token
    }
}

/// Which candidates start, and the buckets to write back.
#[derive(Debug, Default)]
pub(crate) struct Admission {
    pub ids: Vec<JobId>,
    /// The tenant of the last admitted job: the next claim starts after it.
    pub last_tenant: Option<String>,
    /// New token counts of the buckets this admission drew from.
    pub tokens: Vec<(LimitKey, f64)>,
}

/// Walks the candidates in order and starts each one whose tenant and plugin are under their
/// limits, until `want` have started.
pub(crate) fn admit(
    limits: &Limits,
    candidates: &[Candidate],
    counts: &LimitCounts,
    want: usize,
) -> Admission {
    let mut running = counts.running.clone();
    let mut tokens: HashMap<LimitKey, f64> = HashMap::new();
    let mut admission = Admission::default();
    for candidate in candidates {
        if admission.ids.len() >= want {
            break;
        }
        let keys = limits.keys_of(&candidate.tenant, candidate.plugin.as_deref());
        let allowed = keys.iter().all(|key| {
            let Some(limit) = limits.applying(key.0, &key.1) else {
                return true;
            };
            let under_max = limit
                .max_running
                .is_none_or(|max| running.get(key).copied().unwrap_or(0) < u64::from(max));
            let has_token = match limit.bucket_size() {
                None => true,
                Some(size) => {
                    let available = tokens
                        .get(key)
                        .or_else(|| counts.tokens.get(key))
                        .copied()
                        .unwrap_or(size);
                    available >= 1.0
                }
            };
            under_max && has_token
        });
        if !allowed {
            continue;
        }
        for key in keys {
            let Some(limit) = limits.applying(key.0, &key.1) else {
                continue;
            };
            if let Some(size) = limit.bucket_size() {
                let available = tokens
                    .get(&key)
                    .or_else(|| counts.tokens.get(&key))
                    .copied()
                    .unwrap_or(size);
                tokens.insert(key.clone(), available - 1.0);
            }
            *running.entry(key).or_insert(0) += 1;
        }
        admission.ids.push(candidate.id);
        admission.last_tenant = Some(candidate.tenant.clone());
    }
    admission.tokens = tokens.into_iter().collect();
    admission.tokens.sort_by(|a, b| a.0.cmp(&b.0));
    admission
}

/// Refills a bucket that held `tokens` `elapsed_seconds` ago.
pub(crate) fn refill(limit: &JobLimit, tokens: f64, elapsed_seconds: f64) -> f64 {
    match (limit.rate_per_second, limit.bucket_size()) {
        (Some(rate), Some(size)) => (tokens + elapsed_seconds.max(0.0) * rate).min(size),
        _ => tokens,
    }
}

/// How many jobs each tenant's window holds in a claim for `want` jobs among `groups` tenants:
/// the whole claim when there are one or two tenants (so that one with few jobs leaves room to
/// the other), otherwise twice a fair share; at least 32 when limits are set, so that jobs
/// held back by a plugin's limit do not hide the tenant's other jobs.
pub(crate) fn window(want: usize, groups: usize, limited: bool) -> usize {
    let window = if groups <= 2 {
        want
    } else {
        want.min(2 * want.div_ceil(groups)).max(1)
    };
    if limited {
        window.max(32)
    } else {
        window
    }
}

/// At most this many tenants held back by their limits are stepped over in one claim; the next
/// claim goes on after them.
pub(crate) const MOST_SKIPPED_TENANTS: usize = 256;

/// Interleaves per-tenant windows: the first job of every tenant, then the second, and so on.
pub(crate) fn interleave(windows: Vec<Vec<Candidate>>) -> Vec<Candidate> {
    let longest = windows.iter().map(Vec::len).max().unwrap_or(0);
    let mut iterators: Vec<_> = windows.into_iter().map(Vec::into_iter).collect();
    let mut order = Vec::new();
    for _ in 0..longest {
        for iterator in &mut iterators {
            if let Some(candidate) = iterator.next() {
                order.push(candidate);
            }
        }
    }
    order
}

/// How full a tenant's or plugin's limits are right now, for showing why a job waits.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LimitUsage {
    /// The limit in force (its `name` may be [`EVERY`]).
    pub limit: JobLimit,
    /// The tenant or plugin it was read for.
    pub applies_to: String,
    /// Its jobs running now, on all nodes.
    pub running: u64,
    /// Starts left in its bucket now, when the limit has a rate.
    pub tokens: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(id: i64, tenant: &str, plugin: Option<&str>) -> Candidate {
        Candidate {
            id: JobId(id),
            tenant: tenant.to_owned(),
            plugin: plugin.map(str::to_owned),
        }
    }

    fn limit(scope: LimitScope, name: &str, max: Option<u32>, rate: Option<f64>) -> JobLimit {
        JobLimit {
            scope,
            name: name.to_owned(),
            max_running: max,
            rate_per_second: rate,
            burst: None,
        }
    }

    #[test]
    fn interleaving_takes_turns_between_tenants() {
        let order = interleave(vec![
            vec![
                candidate(1, "a", None),
                candidate(2, "a", None),
                candidate(3, "a", None),
            ],
            vec![candidate(10, "b", None)],
        ]);
        let ids: Vec<i64> = order.iter().map(|c| c.id.0).collect();
        assert_eq!(ids, vec![1, 10, 2, 3]);
    }

    #[test]
    fn a_tenant_at_its_limit_is_skipped_and_the_others_fill_the_claim() {
        let limits = Limits::new(vec![limit(LimitScope::Tenant, "a", Some(2), None)]);
        let candidates = interleave(vec![
            vec![candidate(1, "a", None), candidate(2, "a", None)],
            vec![candidate(10, "b", None), candidate(11, "b", None)],
        ]);
        let mut counts = LimitCounts::default();
        counts.running.insert((LimitScope::Tenant, "a".into()), 1);
        let admission = admit(&limits, &candidates, &counts, 4);
        let ids: Vec<i64> = admission.ids.iter().map(|id| id.0).collect();
        assert_eq!(ids, vec![1, 10, 11]);
        assert_eq!(admission.last_tenant.as_deref(), Some("b"));
    }

    #[test]
    fn the_default_limit_applies_to_each_tenant_separately_and_not_to_jobs_without_one() {
        let limits = Limits::new(vec![limit(LimitScope::Tenant, EVERY, Some(1), None)]);
        let candidates = vec![
            candidate(1, "a", None),
            candidate(2, "a", None),
            candidate(3, "b", None),
            candidate(4, "", None),
            candidate(5, "", None),
        ];
        let admission = admit(&limits, &candidates, &LimitCounts::default(), 10);
        let ids: Vec<i64> = admission.ids.iter().map(|id| id.0).collect();
        assert_eq!(ids, vec![1, 3, 4, 5]);
    }

    #[test]
    fn a_plugin_limit_counts_across_tenants_and_a_rate_spends_tokens() {
        let limits = Limits::new(vec![
            limit(LimitScope::Plugin, "slow", Some(1), None),
            limit(LimitScope::Tenant, "a", None, Some(2.0)),
        ]);
        let candidates = vec![
            candidate(1, "a", Some("slow")),
            candidate(2, "b", Some("slow")),
            candidate(3, "a", Some("fast")),
            candidate(4, "a", Some("fast")),
        ];
        let admission = admit(&limits, &candidates, &LimitCounts::default(), 10);
        let ids: Vec<i64> = admission.ids.iter().map(|id| id.0).collect();
        // Tenant a's bucket holds 2 starts: jobs 1 and 3; job 2 waits for plugin slow.
        assert_eq!(ids, vec![1, 3]);
        assert_eq!(
            admission.tokens,
            vec![((LimitScope::Tenant, "a".to_owned()), 0.0)]
        );
    }

    #[test]
    fn buckets_refill_at_the_rate_up_to_their_size() {
        let limit = JobLimit {
            burst: Some(5),
            ..limit(LimitScope::Tenant, "a", None, Some(2.0))
        };
        assert!((refill(&limit, 0.0, 1.0) - 2.0).abs() < 1e-9);
        assert!((refill(&limit, 4.0, 10.0) - 5.0).abs() < 1e-9);
        assert!((refill(&limit, 1.0, -3.0) - 1.0).abs() < 1e-9);
    }

    #[test]
    fn windows_leave_room_for_small_tenants() {
        assert_eq!(window(190, 1, false), 190);
        assert_eq!(window(190, 2, false), 190);
        assert_eq!(window(190, 100, false), 4);
        assert_eq!(window(1, 50, false), 1);
        assert_eq!(window(1, 50, true), 32);
    }
}
