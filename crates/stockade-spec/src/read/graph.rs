//! Checks across units: shared names, dependencies (unknown, self, job, cycles)
//! and job pools.

use std::collections::{BTreeMap, BTreeSet};

use super::job::ReadJob;
use super::service::ReadService;
use super::table::Reader;
use crate::error::SpecDiagnostic;
use crate::model::PoolSpec;
use crate::problem::Problem;
use crate::suggest::closest;

impl Reader<'_> {
    pub(crate) fn check_names(&mut self, services: &[ReadService], jobs: &[ReadJob]) {
        for job in jobs {
            if let Some(service) = services.iter().find(|s| s.spec.name == job.spec.name) {
                let problem = Problem::DuplicateName { name: job.spec.name.clone() };
                let (first, second) = if service.name_span.start < job.name_span.start {
                    (service.name_span.clone(), job.name_span.clone())
                } else {
                    (job.name_span.clone(), service.name_span.clone())
                };
                self.push(
                    SpecDiagnostic::new(problem, Some(second)).also(first, "first defined here"),
                );
            }
        }
    }

    pub(crate) fn check_pools(&mut self, jobs: &[ReadJob], pools: &BTreeMap<String, PoolSpec>) {
        for job in jobs {
            if !pools.contains_key(&job.spec.pool) {
                let problem = Problem::UnknownPool {
                    job: job.spec.name.clone(),
                    pool: job.spec.pool.clone(),
                    suggestion: closest(&job.spec.pool, pools.keys().map(String::as_str))
                        .map(str::to_owned),
                };
                self.report(problem, job.pool_span.clone());
            }
        }
    }

    pub(crate) fn check_dependencies(&mut self, services: &[ReadService], jobs: &[ReadJob]) {
        let names: Vec<&str> = services.iter().map(|s| s.spec.name.as_str()).collect();
        for service in services {
            let name = &service.spec.name;
            for (dep, span) in service.spec.depends_on.iter().zip(&service.dependency_spans) {
                let problem = if dep.service == *name {
                    Problem::SelfDependency { service: name.clone() }
                } else if names.contains(&dep.service.as_str()) {
                    continue;
                } else if jobs.iter().any(|j| j.spec.name == dep.service) {
                    Problem::DependsOnJob { service: name.clone(), dependency: dep.service.clone() }
                } else {
                    let suggestion =
                        closest(&dep.service, names.iter().copied().filter(|n| n != name))
                            .map(str::to_owned);
                    Problem::UnknownDependency {
                        service: name.clone(),
                        dependency: dep.service.clone(),
                        suggestion,
                    }
                };
                self.report(problem, span.clone());
            }
        }
        self.check_cycles(services);
    }

    /// Depth-first search; each cycle is reported once, at the dependency that
    /// closes it. Self-dependencies are reported above and skipped here.
    fn check_cycles(&mut self, services: &[ReadService]) {
        let index: BTreeMap<&str, usize> =
            services.iter().enumerate().map(|(i, s)| (s.spec.name.as_str(), i)).collect();
        let mut state = vec![Mark::New; services.len()];
        let mut reported: BTreeSet<Vec<String>> = BTreeSet::new();
        for start in 0..services.len() {
            let mut stack: Vec<(usize, usize)> = Vec::new();
            if state[start] != Mark::New {
                continue;
            }
            state[start] = Mark::Open;
            stack.push((start, 0));
            while let Some((node, edge)) = stack.last().copied() {
                let deps = &services[node].spec.depends_on;
                if edge == deps.len() {
                    state[node] = Mark::Done;
                    stack.pop();
                    continue;
                }
                if let Some(top) = stack.last_mut() {
                    top.1 += 1;
                }
                let Some(&next) = index.get(deps[edge].service.as_str()) else { continue };
                match state[next] {
                    Mark::New => {
                        state[next] = Mark::Open;
                        stack.push((next, 0));
                    }
                    Mark::Open if next != node => {
                        let from = stack.iter().position(|(n, _)| *n == next).unwrap_or(0);
                        let mut cycle: Vec<String> = stack[from..]
                            .iter()
                            .map(|(n, _)| services[*n].spec.name.clone())
                            .collect();
                        let mut key = cycle.clone();
                        key.sort();
                        cycle.push(services[next].spec.name.clone());
                        if reported.insert(key) {
                            let span = services[node].dependency_spans[edge].clone();
                            self.report(Problem::DependencyCycle { cycle }, span);
                        }
                    }
                    _ => {}
                }
            }
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mark {
    New,
    Open,
    Done,
}
