//! A restricted unpickler: rebuilds tensors references and plain containers from the pickle
//! streams of `torch.save` / `torch.jit.save`, and nothing else.
//!
//! Nothing is ever called. Every `GLOBAL` / `STACK_GLOBAL` is checked against a small
//! allow-list the moment it is read; any other global (`os.system`, `builtins.eval`,
//! `subprocess.Popen`, ...) stops the load with [`PickleError::Refused`]. Allowed globals are
//! interpreted, not executed:
//! * `torch._utils._rebuild_tensor_v2` / `_rebuild_tensor` / `_rebuild_parameter` → a
//!   [`TensorRef`] (storage, offset, shape, stride);
//! * `torch.<Dtype>Storage` → the dtype of a persistent-id storage;
//! * `collections.OrderedDict`, `builtins.{dict,list,tuple,set,frozenset}`,
//!   `torch.jit._pickle.build_*list` / `restore_type_tag` → plain containers;
//! * `__torch__.*` (TorchScript module classes) → inert [`Value::Object`] nodes holding their
//!   attribute dict, only through `NEWOBJ` + `BUILD`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use crate::dtype::Dtype;

/// Why a pickle stream was not accepted.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PickleError {
    /// A global outside the allow-list (the pickle would run or build arbitrary code).
    #[error("pickle references `{0}`, which is not a tensor or container type")]
    Refused(String),
    /// An allowed global used in a way that a tensor archive never uses.
    #[error("at byte {offset}: {reason}")]
    Misuse { offset: usize, reason: String },
    #[error("unsupported pickle opcode 0x{opcode:02x} at byte {offset}")]
    UnknownOpcode { opcode: u8, offset: usize },
    #[error("truncated or malformed pickle at byte {offset}: {reason}")]
    Malformed { offset: usize, reason: String },
}

/// A storage named by a persistent id `('storage', torch.XStorage, key, location, numel)`.
#[derive(Clone, Debug, PartialEq)]
pub struct StorageRef {
    pub key: String,
    pub dtype: Dtype,
    pub numel: usize,
}

/// A tensor view of a storage: `storage[offset + Σ index_i · stride_i]`.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorRef {
    pub storage: StorageRef,
    pub offset: usize,
    pub shape: Vec<usize>,
    pub stride: Vec<usize>,
}

/// The allowed globals, already classified.
#[derive(Clone, Debug, PartialEq)]
pub enum Global {
    RebuildTensorV2,
    RebuildTensor,
    RebuildParameter,
    Storage(Dtype),
    OrderedDict,
    Dict,
    List,
    Tuple,
    Set,
    /// `torch.jit._pickle.build_{int,double,bool,tensor,generic}list`.
    BuildList,
    /// `torch.jit._pickle.restore_type_tag(value, type_str)`.
    RestoreTypeTag,
    /// A TorchScript class `__torch__.<qualname>`.
    TorchClass(String),
}

/// A TorchScript object: its class and its attribute dict (after `BUILD`).
#[derive(Debug)]
pub struct Object {
    pub class: String,
    pub state: Value,
}

/// The values the restricted unpickler builds. Lists, dicts and objects are shared (`Rc`) so
/// that memo references see later `APPENDS` / `SETITEMS` / `BUILD`, like Python's.
#[derive(Clone, Debug)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    Tuple(Rc<Vec<Value>>),
    List(Rc<RefCell<Vec<Value>>>),
    Dict(Rc<RefCell<Vec<(Value, Value)>>>),
    Global(Global),
    Object(Rc<RefCell<Object>>),
    Storage(StorageRef),
    Tensor(TensorRef),
}

impl Value {
    /// A one-word description for error messages (never recursive: pickles may be cyclic).
    pub fn kind(&self) -> String {
        match self {
            Value::None => "None".into(),
            Value::Bool(b) => format!("bool {b}"),
            Value::Int(i) => format!("int {i}"),
            Value::Float(f) => format!("float {f}"),
            Value::Str(s) => format!("str {s:?}"),
            Value::Bytes(b) => format!("bytes[{}]", b.len()),
            Value::Tuple(t) => format!("tuple[{}]", t.len()),
            Value::List(l) => format!("list[{}]", l.borrow().len()),
            Value::Dict(d) => format!("dict[{}]", d.borrow().len()),
            Value::Global(g) => format!("global {g:?}"),
            Value::Object(o) => format!("object `{}`", o.borrow().class),
            Value::Storage(s) => format!("storage {}", s.key),
            Value::Tensor(t) => format!("tensor {:?}", t.shape),
        }
    }
}

/// Classifies `module.name`; anything outside the allow-list is refused.
fn classify(module: &str, name: &str) -> Result<Global, PickleError> {
    let g = match (module, name) {
        ("torch._utils", "_rebuild_tensor_v2") => Global::RebuildTensorV2,
        ("torch._utils", "_rebuild_tensor") => Global::RebuildTensor,
        ("torch._utils", "_rebuild_parameter") => Global::RebuildParameter,
        ("torch" | "torch.storage" | "torch.cuda", n) if Dtype::from_storage_name(n).is_some() => {
            Global::Storage(Dtype::from_storage_name(n).expect("checked"))
        }
        ("collections", "OrderedDict") => Global::OrderedDict,
        ("builtins" | "__builtin__", "dict") => Global::Dict,
        ("builtins" | "__builtin__", "list") => Global::List,
        ("builtins" | "__builtin__", "tuple") => Global::Tuple,
        ("builtins" | "__builtin__", "set" | "frozenset") => Global::Set,
        (
            "torch.jit._pickle",
            "build_intlist" | "build_doublelist" | "build_boollist" | "build_tensorlist"
            | "build_genericlist",
        ) => Global::BuildList,
        ("torch.jit._pickle", "restore_type_tag") => Global::RestoreTypeTag,
        (m, n) if m == "__torch__" || m.starts_with("__torch__.") => {
            Global::TorchClass(format!("{m}.{n}"))
        }
        (m, n) => return Err(PickleError::Refused(format!("{m}.{n}"))),
    };
    Ok(g)
}

/// Upper bound on items a single container opcode may build, and on the stack depth.
const MAX_STACK: usize = 1 << 24;

struct Machine<'a> {
    data: &'a [u8],
    pos: usize,
    stack: Vec<Value>,
    marks: Vec<usize>,
    memo: HashMap<u64, Value>,
    /// Offset of the opcode being executed (for errors).
    op_at: usize,
}

impl<'a> Machine<'a> {
    fn malformed(&self, reason: impl Into<String>) -> PickleError {
        PickleError::Malformed {
            offset: self.op_at,
            reason: reason.into(),
        }
    }

    fn misuse(&self, reason: impl Into<String>) -> PickleError {
        PickleError::Misuse {
            offset: self.op_at,
            reason: reason.into(),
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], PickleError> {
        if n > self.data.len() - self.pos {
            return Err(self.malformed(format!(
                "needs {n} more bytes, {} left",
                self.data.len() - self.pos
            )));
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, PickleError> {
        Ok(self.take(1)?[0])
    }

    fn le(&mut self, n: usize) -> Result<u64, PickleError> {
        let b = self.take(n)?;
        Ok(b.iter()
            .rev()
            .fold(0u64, |acc, &x| (acc << 8) | u64::from(x)))
    }

    fn line(&mut self) -> Result<&'a str, PickleError> {
        let rest = &self.data[self.pos..];
        let n = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| self.malformed("line without a newline"))?;
        self.pos += n + 1;
        std::str::from_utf8(&rest[..n]).map_err(|_| self.malformed("line is not UTF-8"))
    }

    fn utf8(&mut self, n: usize) -> Result<Value, PickleError> {
        let b = self.take(n)?;
        let s = std::str::from_utf8(b).map_err(|_| self.malformed("string is not UTF-8"))?;
        Ok(Value::Str(s.to_string()))
    }

    fn push(&mut self, v: Value) -> Result<(), PickleError> {
        if self.stack.len() >= MAX_STACK {
            return Err(self.malformed("stack too deep"));
        }
        self.stack.push(v);
        Ok(())
    }

    fn pop(&mut self) -> Result<Value, PickleError> {
        if self.marks.last().is_some_and(|&m| m >= self.stack.len()) {
            return Err(self.malformed("pop across a MARK"));
        }
        self.stack
            .pop()
            .ok_or_else(|| self.malformed("pop from an empty stack"))
    }

    fn top(&self) -> Result<&Value, PickleError> {
        self.stack
            .last()
            .ok_or_else(|| self.malformed("empty stack"))
    }

    fn pop_mark(&mut self) -> Result<Vec<Value>, PickleError> {
        let m = self
            .marks
            .pop()
            .ok_or_else(|| self.malformed("no MARK on the stack"))?;
        Ok(self.stack.split_off(m))
    }

    fn memo_get(&self, i: u64) -> Result<Value, PickleError> {
        self.memo
            .get(&i)
            .cloned()
            .ok_or_else(|| self.malformed(format!("memo entry {i} was never stored")))
    }

    fn memo_put(&mut self, i: u64) -> Result<(), PickleError> {
        let v = self.top()?.clone();
        self.memo.insert(i, v);
        Ok(())
    }

    fn global(&mut self, module: &str, name: &str) -> Result<(), PickleError> {
        let g = classify(module, name)?;
        self.push(Value::Global(g))
    }

    fn append(&mut self, items: Vec<Value>) -> Result<(), PickleError> {
        match self.top()? {
            Value::List(l) => {
                l.borrow_mut().extend(items);
                Ok(())
            }
            other => Err(self.misuse(format!("APPEND(S) to {}", other.kind()))),
        }
    }

    fn set_items(&mut self, items: Vec<Value>) -> Result<(), PickleError> {
        if !items.len().is_multiple_of(2) {
            return Err(self.malformed("SETITEMS with an odd number of items"));
        }
        match self.top()? {
            Value::Dict(d) => {
                let mut d = d.borrow_mut();
                let mut it = items.into_iter();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    d.push((k, v));
                }
                Ok(())
            }
            other => Err(self.misuse(format!("SETITEM(S) on {}", other.kind()))),
        }
    }

    /// `REDUCE`: `callable(*args)`, interpreted for the allow-listed callables only.
    fn reduce(&self, callable: Value, args: Value) -> Result<Value, PickleError> {
        let Value::Global(g) = callable else {
            return Err(self.misuse(format!("REDUCE on {}", callable.kind())));
        };
        let Value::Tuple(args) = args else {
            return Err(self.misuse(format!("REDUCE with {} as arguments", args.kind())));
        };
        let arg = |i: usize| args.get(i).cloned().unwrap_or(Value::None);
        match g {
            Global::RebuildTensorV2 | Global::RebuildTensor => {
                if args.len() < 4 {
                    return Err(self.misuse(format!(
                        "_rebuild_tensor with {} arguments, expected (storage, offset, size, stride, ...)",
                        args.len()
                    )));
                }
                let Value::Storage(storage) = arg(0) else {
                    return Err(self.misuse(format!(
                        "_rebuild_tensor of {}, expected a persistent-id storage",
                        arg(0).kind()
                    )));
                };
                let offset = self.usize_of(&arg(1), "storage offset")?;
                let shape = self.usize_tuple(&arg(2), "size")?;
                let stride = self.usize_tuple(&arg(3), "stride")?;
                if shape.len() != stride.len() {
                    return Err(self.misuse(format!(
                        "tensor size {shape:?} and stride {stride:?} differ in rank"
                    )));
                }
                Ok(Value::Tensor(TensorRef {
                    storage,
                    offset,
                    shape,
                    stride,
                }))
            }
            Global::RebuildParameter => match arg(0) {
                t @ Value::Tensor(_) => Ok(t),
                other => Err(self.misuse(format!("_rebuild_parameter of {}", other.kind()))),
            },
            Global::OrderedDict | Global::Dict => match args.first() {
                None => Ok(Value::Dict(Rc::default())),
                Some(Value::List(l)) => {
                    let mut pairs = Vec::new();
                    for p in l.borrow().iter() {
                        match p {
                            Value::Tuple(t) if t.len() == 2 => {
                                pairs.push((t[0].clone(), t[1].clone()))
                            }
                            other => {
                                return Err(self.misuse(format!(
                                    "dict item {}, expected a (key, value) pair",
                                    other.kind()
                                )));
                            }
                        }
                    }
                    Ok(Value::Dict(Rc::new(RefCell::new(pairs))))
                }
                Some(other) => Err(self.misuse(format!("dict({})", other.kind()))),
            },
            Global::List | Global::Set | Global::Tuple | Global::BuildList => {
                let items: Vec<Value> = match args.first() {
                    None => Vec::new(),
                    Some(Value::List(l)) => l.borrow().clone(),
                    Some(Value::Tuple(t)) => t.as_ref().clone(),
                    Some(other) => {
                        return Err(self.misuse(format!("{g:?} of {}", other.kind())));
                    }
                };
                Ok(if g == Global::Tuple {
                    Value::Tuple(Rc::new(items))
                } else {
                    Value::List(Rc::new(RefCell::new(items)))
                })
            }
            Global::RestoreTypeTag => Ok(arg(0)),
            Global::Storage(_) | Global::TorchClass(_) => Err(self.misuse(format!(
                "REDUCE calls {g:?}, which a tensor archive builds only through persistent ids / NEWOBJ"
            ))),
        }
    }

    fn usize_of(&self, v: &Value, what: &str) -> Result<usize, PickleError> {
        match v {
            Value::Int(i) if *i >= 0 => Ok(*i as usize),
            other => Err(self.misuse(format!(
                "tensor {what} is {}, expected a non-negative int",
                other.kind()
            ))),
        }
    }

    fn usize_tuple(&self, v: &Value, what: &str) -> Result<Vec<usize>, PickleError> {
        match v {
            Value::Tuple(t) => t.iter().map(|x| self.usize_of(x, what)).collect(),
            Value::List(l) => l.borrow().iter().map(|x| self.usize_of(x, what)).collect(),
            other => Err(self.misuse(format!(
                "tensor {what} is {}, expected a tuple of ints",
                other.kind()
            ))),
        }
    }

    /// `BINPERSID`: `('storage', torch.XStorage, key, location, numel)`.
    fn persistent(&self, pid: Value) -> Result<Value, PickleError> {
        let Value::Tuple(t) = &pid else {
            return Err(self.misuse(format!("persistent id {}", pid.kind())));
        };
        match t.as_slice() {
            [
                Value::Str(tag),
                Value::Global(Global::Storage(dtype)),
                Value::Str(key),
                _location,
                numel,
            ] if tag == "storage" => Ok(Value::Storage(StorageRef {
                key: key.clone(),
                dtype: *dtype,
                numel: self.usize_of(numel, "storage size")?,
            })),
            _ => Err(self.misuse(format!(
                "unsupported persistent id of {} items, expected ('storage', torch.<Dtype>Storage, key, location, numel)",
                t.len()
            ))),
        }
    }

    fn run(mut self) -> Result<Value, PickleError> {
        loop {
            self.op_at = self.pos;
            let op = self
                .u8()
                .map_err(|_| self.malformed("ended without STOP"))?;
            match op {
                0x80 => {
                    let proto = self.u8()?;
                    if proto > 5 {
                        return Err(self.malformed(format!("pickle protocol {proto}")));
                    }
                }
                0x95 => {
                    self.take(8)?;
                } // FRAME
                b'.' => return self.pop(),
                // Globals.
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    self.global(module, name)?;
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    match (module, name) {
                        (Value::Str(m), Value::Str(n)) => self.global(&m, &n)?,
                        (m, n) => {
                            return Err(self.malformed(format!(
                                "STACK_GLOBAL of {} and {}",
                                m.kind(),
                                n.kind()
                            )));
                        }
                    }
                }
                // Memo.
                b'q' => {
                    let i = self.le(1)?;
                    self.memo_put(i)?;
                }
                b'r' => {
                    let i = self.le(4)?;
                    self.memo_put(i)?;
                }
                0x94 => {
                    let i = self.memo.len() as u64;
                    self.memo_put(i)?;
                }
                b'p' => {
                    let i = self
                        .line()?
                        .parse()
                        .map_err(|_| self.malformed("bad PUT"))?;
                    self.memo_put(i)?;
                }
                b'h' => {
                    let i = self.le(1)?;
                    let v = self.memo_get(i)?;
                    self.push(v)?;
                }
                b'j' => {
                    let i = self.le(4)?;
                    let v = self.memo_get(i)?;
                    self.push(v)?;
                }
                b'g' => {
                    let i = self
                        .line()?
                        .parse()
                        .map_err(|_| self.malformed("bad GET"))?;
                    let v = self.memo_get(i)?;
                    self.push(v)?;
                }
                // Stack manipulation.
                b'(' => self.marks.push(self.stack.len()),
                b'0' => {
                    self.pop()?;
                }
                b'1' => {
                    self.pop_mark()?;
                }
                b'2' => {
                    let v = self.top()?.clone();
                    self.push(v)?;
                }
                // Tuples, lists, dicts, sets.
                b')' => self.push(Value::Tuple(Rc::default()))?,
                b't' => {
                    let items = self.pop_mark()?;
                    self.push(Value::Tuple(Rc::new(items)))?;
                }
                0x85..=0x87 => {
                    let n = usize::from(op - 0x84);
                    if self.stack.len() < n
                        || self.marks.last().is_some_and(|&m| m + n > self.stack.len())
                    {
                        return Err(self.malformed(format!("TUPLE{n} without {n} items")));
                    }
                    let items = self.stack.split_off(self.stack.len() - n);
                    self.push(Value::Tuple(Rc::new(items)))?;
                }
                b']' => self.push(Value::List(Rc::default()))?,
                b'l' => {
                    let items = self.pop_mark()?;
                    self.push(Value::List(Rc::new(RefCell::new(items))))?;
                }
                b'a' => {
                    let v = self.pop()?;
                    self.append(vec![v])?;
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    self.append(items)?;
                }
                b'}' => self.push(Value::Dict(Rc::default()))?,
                b'd' => {
                    let items = self.pop_mark()?;
                    self.push(Value::Dict(Rc::default()))?;
                    self.set_items(items)?;
                }
                b's' => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    self.set_items(vec![k, v])?;
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    self.set_items(items)?;
                }
                0x8f => self.push(Value::List(Rc::default()))?, // EMPTY_SET
                0x90 => {
                    let items = self.pop_mark()?;
                    self.append(items)?;
                } // ADDITEMS
                0x91 => {
                    let items = self.pop_mark()?;
                    self.push(Value::List(Rc::new(RefCell::new(items))))?;
                } // FROZENSET
                // Scalars.
                b'N' => self.push(Value::None)?,
                0x88 => self.push(Value::Bool(true))?,
                0x89 => self.push(Value::Bool(false))?,
                b'J' => {
                    let v = self.le(4)? as u32 as i32;
                    self.push(Value::Int(i64::from(v)))?;
                }
                b'K' => {
                    let v = self.le(1)?;
                    self.push(Value::Int(v as i64))?;
                }
                b'M' => {
                    let v = self.le(2)?;
                    self.push(Value::Int(v as i64))?;
                }
                0x8a | 0x8b => {
                    let n = if op == 0x8a {
                        self.le(1)? as usize
                    } else {
                        self.le(4)? as usize
                    };
                    if n > 8 {
                        return Err(self.misuse(format!("{n}-byte integer (more than 64 bits)")));
                    }
                    let b = self.take(n)?;
                    let mut v: i64 = 0;
                    for (i, &x) in b.iter().enumerate() {
                        v |= i64::from(x) << (8 * i);
                    }
                    if n > 0 && n < 8 && b[n - 1] & 0x80 != 0 {
                        v -= 1i64 << (8 * n);
                    }
                    self.push(Value::Int(v))?;
                }
                b'I' => {
                    let l = self.line()?;
                    let v = match l {
                        "00" => Value::Bool(false),
                        "01" => Value::Bool(true),
                        s => Value::Int(s.parse().map_err(|_| self.malformed("bad INT"))?),
                    };
                    self.push(v)?;
                }
                b'G' => {
                    let b = self.take(8)?;
                    let v = f64::from_be_bytes(b.try_into().expect("8 bytes"));
                    self.push(Value::Float(v))?;
                }
                // Strings and bytes.
                b'X' => {
                    let n = self.le(4)? as usize;
                    let v = self.utf8(n)?;
                    self.push(v)?;
                }
                0x8c => {
                    let n = self.le(1)? as usize;
                    let v = self.utf8(n)?;
                    self.push(v)?;
                }
                0x8d => {
                    let n = self.le(8)?;
                    let n = usize::try_from(n).map_err(|_| self.malformed("huge string"))?;
                    let v = self.utf8(n)?;
                    self.push(v)?;
                }
                b'B' | b'T' => {
                    let n = self.le(4)? as usize;
                    let v = self.take(n)?.to_vec();
                    self.push(Value::Bytes(v))?;
                }
                b'C' | b'U' => {
                    let n = self.le(1)? as usize;
                    let v = self.take(n)?.to_vec();
                    self.push(Value::Bytes(v))?;
                }
                // Objects.
                b'R' => {
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    let v = self.reduce(callable, args)?;
                    self.push(v)?;
                }
                0x81 => {
                    let _args = self.pop()?;
                    let cls = self.pop()?;
                    match cls {
                        Value::Global(Global::TorchClass(class)) => {
                            self.push(Value::Object(Rc::new(RefCell::new(Object {
                                class,
                                state: Value::None,
                            }))))?;
                        }
                        other => {
                            return Err(self.misuse(format!(
                                "NEWOBJ of {}; only TorchScript `__torch__` classes are built",
                                other.kind()
                            )));
                        }
                    }
                }
                b'b' => {
                    let state = self.pop()?;
                    match self.top()? {
                        Value::Object(o) => o.borrow_mut().state = state,
                        // OrderedDict `_metadata`, tensor state: not needed.
                        Value::Dict(_) | Value::Tensor(_) => {}
                        other => {
                            return Err(self.misuse(format!("BUILD of {}", other.kind())));
                        }
                    }
                }
                b'Q' => {
                    let pid = self.pop()?;
                    let v = self.persistent(pid)?;
                    self.push(v)?;
                }
                _ => {
                    return Err(PickleError::UnknownOpcode {
                        opcode: op,
                        offset: self.op_at,
                    });
                }
            }
        }
    }
}

/// Unpickles `data` with the restricted machine (nothing is called or imported).
pub fn unpickle(data: &[u8]) -> Result<Value, PickleError> {
    Machine {
        data,
        pos: 0,
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
        op_at: 0,
    }
    .run()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_and_containers() {
        // pickle.dumps({'a': [1, -2, 300, 70000, -(2**40)], 'b': (1.5, True, None, 'é')}, 2)
        let p = b"\x80\x02}q\x00(X\x01\x00\x00\x00aq\x01]q\x02(K\x01J\xfe\xff\xff\xffM,\x01Jp\x11\x01\x00\x8a\x06\x00\x00\x00\x00\x00\xffeX\x01\x00\x00\x00bq\x03(G?\xf8\x00\x00\x00\x00\x00\x00\x88NX\x02\x00\x00\x00\xc3\xa9q\x04tq\x05u.";
        let v = unpickle(p).unwrap();
        let Value::Dict(d) = v else { panic!() };
        let d = d.borrow();
        assert_eq!(d.len(), 2);
        let Value::List(l) = &d[0].1 else { panic!() };
        let ints: Vec<i64> = l
            .borrow()
            .iter()
            .map(|x| match x {
                Value::Int(i) => *i,
                _ => panic!(),
            })
            .collect();
        assert_eq!(ints, vec![1, -2, 300, 70000, -(1i64 << 40)]);
        let Value::Tuple(t) = &d[1].1 else { panic!() };
        assert!(matches!(t[0], Value::Float(f) if f == 1.5));
        assert!(matches!(t[1], Value::Bool(true)));
        assert!(matches!(&t[3], Value::Str(s) if s == "é"));
    }

    #[test]
    fn refuses_disallowed_globals() {
        for (m, n) in [
            ("os", "system"),
            ("posix", "system"),
            ("subprocess", "Popen"),
            ("builtins", "eval"),
            ("__builtin__", "getattr"),
            ("torch", "load"),
            ("torch.storage", "_load_from_bytes"),
        ] {
            let mut p = b"\x80\x02".to_vec();
            p.extend(format!("c{m}\n{n}\n)R.").bytes());
            assert_eq!(
                unpickle(&p).unwrap_err(),
                PickleError::Refused(format!("{m}.{n}"))
            );
        }
    }

    #[test]
    fn refuses_reduce_of_torchscript_class_and_storage() {
        let e = unpickle(b"\x80\x02c__torch__\nM\n)R.").unwrap_err();
        assert!(matches!(e, PickleError::Misuse { offset: 16, .. }), "{e}");
        let e = unpickle(b"\x80\x02ctorch\nFloatStorage\n)R.").unwrap_err();
        assert!(matches!(e, PickleError::Misuse { .. }), "{e}");
    }

    #[test]
    fn unknown_opcode_and_truncation_report_the_offset() {
        assert_eq!(
            unpickle(b"\x80\x02N\xff.").unwrap_err(),
            PickleError::UnknownOpcode {
                opcode: 0xff,
                offset: 3
            }
        );
        // INST (`i`) would call a class: not supported.
        assert!(matches!(
            unpickle(b"\x80\x02(ios\nsystem\n.").unwrap_err(),
            PickleError::UnknownOpcode { opcode: b'i', .. }
        ));
        let e = unpickle(b"\x80\x02X\x10\x00\x00\x00abc").unwrap_err();
        assert!(matches!(e, PickleError::Malformed { offset: 2, .. }), "{e}");
        assert!(matches!(
            unpickle(b"\x80\x02N").unwrap_err(),
            PickleError::Malformed { .. }
        ));
    }

    #[test]
    fn memo_shares_mutable_containers() {
        // l = []; d = {'x': l, 'y': l}; l.append(5) — as pickled: EMPTY_LIST BINPUT 0,
        // APPEND after the memo put, then BINGET 0 sees the appended item.
        let p = b"\x80\x02}(X\x01\x00\x00\x00x]q\x00K\x05aX\x01\x00\x00\x00yh\x00u.";
        let Value::Dict(d) = unpickle(p).unwrap() else {
            panic!()
        };
        let d = d.borrow();
        let Value::List(l) = &d[1].1 else { panic!() };
        assert_eq!(l.borrow().len(), 1);
    }
}
