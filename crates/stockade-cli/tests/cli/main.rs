//! The real `stockade` binary as a user runs it, one test binary: verbs and
//! exit codes (`commands`), `top` in a pseudo-terminal (`top`), `exec -it`
//! in one (`exec`), the kill -9 recovery proof (`recovery`) and adoption
//! across daemon deaths (`survival`). `support`
//! starts daemon processes.

mod commands;
mod exec;
mod recovery;
mod support;
mod survival;
mod top;
