//! Real sockets on 127.0.0.1: launching a server command (`launch`), the fault proxy (`proxy`), the
//! real-socket runner of the scenario files (`runner`) and its run clock (`clock`), the kernel checks (`kernel`),
//! the black-box properties for any server in any language (`blackbox`) and the verifying load engine (`load`).
//! It never touches the simulator.

pub mod blackbox;
mod clock;
pub mod kernel;
pub mod launch;
pub mod load;
pub mod proxy;
pub mod runner;
