//! Everything the emulator knows, behind one lock: projects, operations, each API's resources
//! and the issued tokens. `GET /_emulator/resources` serialises it (tokens excluded).

use serde::Serialize;

use crate::apis::{iam, redis};
use crate::auth::Tokens;
use crate::ops::Operations;
use crate::projects::Projects;

/// One field per API store; an API module adds its own.
#[derive(Default, Serialize)]
pub struct World {
    pub projects: Projects,
    pub operations: Operations,
    pub redis: redis::Store,
    pub iam: iam::Store,
    #[serde(skip)]
    pub tokens: Tokens,
}
