//! The command layer: each task that builds and then publishes composes
//! the two here, as ko's `commands` do. The build side ([`Builder`]) is
//! made once, with the policy the task's flags choose; a publisher —
//! [`mod@crate::ship`] over ssh, [`mod@crate::push`] to a registry — is handed the
//! images (or, for `ship`, whose nodes say which architectures they need,
//! the build side behind [`crate::build::Images`]) and never makes a builder itself.

use crate::build::{Builder, WithPolicy};
use crate::push::{self, PushOptions, PushReport};
use crate::session::Session;
use crate::ship::{self, ShipOptions, ShipReport};
use anyhow::Result;
use std::io::Write;

/// `ship`: probe the nodes, build (or check) the images their
/// architectures need, then send them or print the plan.
pub fn ship(s: &Session, o: &ShipOptions, out: &mut dyn Write) -> Result<ShipReport> {
    // The hosts are resolved first: a wrong --host is said before anything
    // is named or built.
    let targets = ship::targets(s, ship::Hosts::Named(&o.hosts))?;
    let builder = Builder::new(s, o.build.clone())?;
    let images = WithPolicy {
        builder: &builder,
        policy: ship::policy(o),
    };
    ship::run(s, targets, &images, o, out)
}

/// `push`: build (or check) every configured architecture, then push the
/// images and their manifest lists, or print the commands.
pub fn push(s: &Session, o: &PushOptions, out: &mut dyn Write) -> Result<PushReport> {
    // A wrong registry is said before anything is built.
    let registry = push::registry(s, &o.registry, o.insecure)?;
    let builder = Builder::new(s, o.build.clone())?;
    let builds = builder.build(None, push::policy(o))?;
    push::publish(registry, builder.engine(), builds, o, out)
}
