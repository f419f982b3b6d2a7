using System.Buffers.Binary;
using System.Text;
using LearningCurves.Formats;

namespace LearningCurves.Engine.Checkpoints;

/// <summary>A storage named by a persistent id: ('storage', torch.&lt;Type&gt;Storage, key, location, numel).</summary>
public sealed record TorchStorageRef(string Key, SafeTensorsDType DType, string TypeName, long Numel);

/// <summary>A tensor rebuilt by torch._utils._rebuild_tensor_v2: a view of a storage at an offset with sizes and strides
/// (all in elements).</summary>
public sealed record TorchTensorRef(TorchStorageRef Storage, long Offset, long[] Shape, long[] Stride);

/// <summary>
/// A pickle reader that understands exactly what a torch state dict holds and refuses everything else before acting on
/// it, as torch.load(weights_only=True) does. Nothing in the pickle is ever called: the few globals a state dict names
/// are recognised by name and interpreted here (an OrderedDict is built, a tensor rebuild call becomes a
/// <see cref="TorchTensorRef"/>); any other global (os.system, builtins.eval, ...) or an opcode that state dicts never
/// use (INST, OBJ, NEWOBJ, EXT*) is a <see cref="UserError"/> at the moment it is read.
///
/// Accepted globals: collections.OrderedDict; torch._utils._rebuild_tensor_v2, _rebuild_parameter and
/// _rebuild_parameter_with_state; the typed storage classes torch.FloatStorage, HalfStorage, BFloat16Storage,
/// DoubleStorage, BoolStorage, ByteStorage, CharStorage, ShortStorage, IntStorage, LongStorage (only as the type inside
/// a persistent id). The opcodes are those of protocols 2 to 5 that these objects pickle to.
/// </summary>
public sealed class StateDictUnpickler
{
    private static readonly Dictionary<string, SafeTensorsDType> StorageTypes = new(StringComparer.Ordinal)
    {
        ["FloatStorage"] = SafeTensorsDType.F32,
        ["HalfStorage"] = SafeTensorsDType.F16,
        ["BFloat16Storage"] = SafeTensorsDType.BF16,
        ["DoubleStorage"] = SafeTensorsDType.F64,
        ["BoolStorage"] = SafeTensorsDType.BOOL,
        ["ByteStorage"] = SafeTensorsDType.U8,
        ["CharStorage"] = SafeTensorsDType.I8,
        ["ShortStorage"] = SafeTensorsDType.I16,
        ["IntStorage"] = SafeTensorsDType.I32,
        ["LongStorage"] = SafeTensorsDType.I64,
    };

    /// <summary>Deepest nesting of marks and containers accepted (a state dict needs a handful).</summary>
    private const int MaxDepth = 64;

    private sealed record Global(string Module, string Name)
    {
        public string FullName => Module + "." + Name;
    }

    private sealed class Mark
    {
        public static readonly Mark Instance = new();
    }

    /// <summary>A tuple (immutable sequence) as opposed to a list.</summary>
    private sealed record Tuple(object?[] Items);

    /// <summary>A dict or OrderedDict, in insertion order; keys are compared as pickle values (strings and numbers).</summary>
    private sealed class Dict
    {
        public readonly List<KeyValuePair<object?, object?>> Items = new();
        private readonly Dictionary<object, int> _index = new();

        public void Set(object? key, object? value, Func<string, UserError> bad)
        {
            if (key is null || key is not (string or long or bool)) throw bad($"a dict key of type {TypeName(key)}");
            if (_index.TryGetValue(key, out int i)) Items[i] = new(key, value);
            else
            {
                _index[key] = Items.Count;
                Items.Add(new(key, value));
            }
        }
    }

    private readonly string _source;
    private readonly Func<(string Key, string TypeName, SafeTensorsDType DType, long Numel), TorchStorageRef> _storage;

    /// <param name="source">Names the pickle in errors (the archive path and entry).</param>
    /// <param name="storage">Resolves a persistent id to a storage (checks the archive holds it); called once per id.</param>
    public StateDictUnpickler(string source, Func<(string Key, string TypeName, SafeTensorsDType DType, long Numel), TorchStorageRef> storage)
    {
        _source = source;
        _storage = storage;
    }

    private UserError Bad(string what) => UserError.InFile(_source, what);

    private UserError Refused(string what) =>
        UserError.InFile(_source, $"refused: the pickle {what}, which a state dict never holds (torch.load(weights_only=True) refuses it too); nothing in it was run");

    private static string TypeName(object? o) => o switch
    {
        null => "None",
        string => "str",
        long => "int",
        bool => "bool",
        double => "float",
        byte[] => "bytes",
        Tuple => "tuple",
        List<object?> => "list",
        Dict => "dict",
        Global g => g.FullName,
        TorchTensorRef => "tensor",
        TorchStorageRef => "storage",
        _ => o.GetType().Name,
    };

    /// <summary>Reads the pickle; the top object must be a dict (or OrderedDict) of names to tensors, returned in order.</summary>
    public IReadOnlyList<KeyValuePair<string, TorchTensorRef>> ReadStateDict(ReadOnlySpan<byte> pickle)
    {
        var top = Read(pickle);
        if (top is not Dict d) throw Bad($"the pickle holds a {TypeName(top)}, not a state dict (a dict of tensor names to tensors)");
        var result = new List<KeyValuePair<string, TorchTensorRef>>(d.Items.Count);
        foreach (var (k, v) in d.Items)
        {
            if (k is not string name) throw Bad($"the state dict has a key of type {TypeName(k)}; tensor names are strings");
            if (v is not TorchTensorRef t) throw Bad($"state dict entry '{name}' is a {TypeName(v)}, not a tensor");
            result.Add(new(name, t));
        }
        return result;
    }

    private object? Read(ReadOnlySpan<byte> p)
    {
        var stack = new List<object?>();
        var marks = new Stack<int>();
        var memo = new Dictionary<long, object?>();
        var storages = new Dictionary<string, TorchStorageRef>(StringComparer.Ordinal);
        int pos = 0;

        ReadOnlySpan<byte> Take(ReadOnlySpan<byte> s, int n)
        {
            if (n < 0 || n > s.Length - pos) throw Bad($"the pickle is truncated (an opcode at byte {pos} needs {n} more bytes)");
            var r = s.Slice(pos, n);
            pos += n;
            return r;
        }
        object? Pop()
        {
            if (stack.Count == 0 || (marks.Count > 0 && stack.Count <= marks.Peek())) throw Bad($"the pickle pops an empty stack at byte {pos}");
            var o = stack[^1];
            stack.RemoveAt(stack.Count - 1);
            return o;
        }
        object? Top()
        {
            if (stack.Count == 0 || (marks.Count > 0 && stack.Count <= marks.Peek())) throw Bad($"the pickle reads an empty stack at byte {pos}");
            return stack[^1];
        }
        List<object?> PopMark()
        {
            if (marks.Count == 0) throw Bad($"the pickle closes a mark it never opened at byte {pos}");
            int m = marks.Pop();
            var items = stack.GetRange(m, stack.Count - m);
            stack.RemoveRange(m, stack.Count - m);
            return items;
        }
        void Push(object? o)
        {
            stack.Add(o);
        }
        string Utf8(ReadOnlySpan<byte> b)
        {
            try
            {
                return new UTF8Encoding(false, true).GetString(b);
            }
            catch (DecoderFallbackException)
            {
                throw Bad("the pickle holds a string that is not UTF-8");
            }
        }
        void CheckGlobal(Global g)
        {
            bool ok = g.FullName is "collections.OrderedDict" or "torch._utils._rebuild_tensor_v2" or "torch._utils._rebuild_parameter"
                or "torch._utils._rebuild_parameter_with_state"
                || (g.Module == "torch" && StorageTypes.ContainsKey(g.Name));
            if (!ok) throw Refused($"names the global {g.FullName}");
        }

        while (true)
        {
            if (pos >= p.Length) throw Bad("the pickle ends without a STOP opcode (truncated?)");
            byte op = p[pos++];
            switch (op)
            {
                case 0x80: // PROTO
                    {
                        int v = Take(p, 1)[0];
                        if (v < 2 || v > 5) throw Bad($"pickle protocol {v} is not one torch.save writes (2 to 5)");
                        break;
                    }
                case 0x95: // FRAME: an 8-byte length; frames are only a reading hint
                    Take(p, 8);
                    break;
                case (byte)'.': // STOP
                    if (stack.Count != 1 || marks.Count != 0) throw Bad("the pickle stops with a malformed stack");
                    return stack[0];
                case (byte)'(': // MARK
                    if (marks.Count >= MaxDepth) throw Bad($"the pickle nests deeper than {MaxDepth} marks");
                    marks.Push(stack.Count);
                    break;
                case (byte)'N': Push(null); break;
                case 0x88: Push(true); break;  // NEWTRUE
                case 0x89: Push(false); break; // NEWFALSE
                case (byte)'K': Push((long)Take(p, 1)[0]); break;                                             // BININT1
                case (byte)'M': Push((long)BinaryPrimitives.ReadUInt16LittleEndian(Take(p, 2))); break;       // BININT2
                case (byte)'J': Push((long)BinaryPrimitives.ReadInt32LittleEndian(Take(p, 4))); break;        // BININT
                case 0x8a: // LONG1: n-byte little-endian two's complement
                    {
                        int n = Take(p, 1)[0];
                        var b = Take(p, n);
                        if (n > 8) throw Bad($"the pickle holds an integer of {n} bytes; state dict integers fit in 64 bits");
                        long v = 0;
                        for (int i = n - 1; i >= 0; i--) v = (v << 8) | b[i];
                        if (n > 0 && n < 8 && (b[n - 1] & 0x80) != 0) v -= 1L << (8 * n);
                        Push(v);
                        break;
                    }
                case (byte)'G': Push(BinaryPrimitives.ReadDoubleBigEndian(Take(p, 8))); break;                 // BINFLOAT
                case (byte)'X': // BINUNICODE
                    {
                        uint n = BinaryPrimitives.ReadUInt32LittleEndian(Take(p, 4));
                        if (n > int.MaxValue) throw Bad("the pickle holds a string longer than 2 GB");
                        Push(Utf8(Take(p, (int)n)));
                        break;
                    }
                case 0x8c: Push(Utf8(Take(p, Take(p, 1)[0]))); break;                                        // SHORT_BINUNICODE
                case 0x8d: // BINUNICODE8
                    {
                        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(Take(p, 8));
                        if (n > int.MaxValue) throw Bad("the pickle holds a string longer than 2 GB");
                        Push(Utf8(Take(p, (int)n)));
                        break;
                    }
                case (byte)'C': Push(Take(p, Take(p, 1)[0]).ToArray()); break;                               // SHORT_BINBYTES
                case (byte)'}': Push(new Dict()); break;         // EMPTY_DICT
                case (byte)']': Push(new List<object?>()); break; // EMPTY_LIST
                case (byte)')': Push(new Tuple([])); break;      // EMPTY_TUPLE
                case (byte)'t': Push(new Tuple(PopMark().ToArray())); break; // TUPLE
                case 0x85: Push(new Tuple([Pop()])); break; // TUPLE1
                case 0x86: // TUPLE2
                    {
                        var b = Pop();
                        var a = Pop();
                        Push(new Tuple([a, b]));
                        break;
                    }
                case 0x87: // TUPLE3
                    {
                        var c = Pop();
                        var b = Pop();
                        var a = Pop();
                        Push(new Tuple([a, b, c]));
                        break;
                    }
                case (byte)'q': memo[Take(p, 1)[0]] = Top(); break;                                  // BINPUT
                case (byte)'r': memo[BinaryPrimitives.ReadUInt32LittleEndian(Take(p, 4))] = Top(); break; // LONG_BINPUT
                case 0x94: memo[memo.Count] = Top(); break;                                          // MEMOIZE
                case (byte)'h': // BINGET
                case (byte)'j': // LONG_BINGET
                    {
                        long k = op == (byte)'h' ? Take(p, 1)[0] : BinaryPrimitives.ReadUInt32LittleEndian(Take(p, 4));
                        if (!memo.TryGetValue(k, out var o)) throw Bad($"the pickle reads memo slot {k}, which was never stored");
                        Push(o);
                        break;
                    }
                case (byte)'0': Pop(); break; // POP
                case (byte)'c': // GLOBAL module\nname\n
                    {
                        string module = ReadLine(p, ref pos), name = ReadLine(p, ref pos);
                        var g = new Global(module, name);
                        CheckGlobal(g);
                        Push(g);
                        break;
                    }
                case 0x93: // STACK_GLOBAL
                    {
                        var name = Pop();
                        var module = Pop();
                        if (module is not string m || name is not string n) throw Bad("STACK_GLOBAL needs two strings");
                        var g = new Global(m, n);
                        CheckGlobal(g);
                        Push(g);
                        break;
                    }
                case (byte)'Q': // BINPERSID: a storage reference
                    Push(PersistentLoad(Pop(), storages));
                    break;
                case (byte)'R': // REDUCE: callable(*args), for the accepted callables only
                    {
                        var args = Pop();
                        var f = Pop();
                        if (f is not Global g) throw Bad($"the pickle calls a {TypeName(f)}");
                        if (args is not Tuple t) throw Bad($"{g.FullName} is called with a {TypeName(args)} instead of an argument tuple");
                        Push(Call(g, t.Items));
                        break;
                    }
                case (byte)'b': // BUILD: set state; only an OrderedDict's attributes (a state dict's _metadata) are accepted and dropped
                    {
                        var state = Pop();
                        var target = Top();
                        if (target is not Dict) throw Refused($"sets the state of a {TypeName(target)}");
                        if (state is not (null or Dict or Tuple)) throw Bad($"an OrderedDict state of type {TypeName(state)}");
                        break;
                    }
                case (byte)'s': // SETITEM
                    {
                        var v = Pop();
                        var k = Pop();
                        if (Top() is not Dict d) throw Bad("SETITEM on something that is not a dict");
                        d.Set(k, v, Bad);
                        break;
                    }
                case (byte)'u': // SETITEMS
                    {
                        var items = PopMark();
                        if (Top() is not Dict d) throw Bad("SETITEMS on something that is not a dict");
                        if (items.Count % 2 != 0) throw Bad("SETITEMS with an odd number of items");
                        for (int i = 0; i < items.Count; i += 2) d.Set(items[i], items[i + 1], Bad);
                        break;
                    }
                case (byte)'a': // APPEND
                    {
                        var v = Pop();
                        if (Top() is not List<object?> l) throw Bad("APPEND on something that is not a list");
                        l.Add(v);
                        break;
                    }
                case (byte)'e': // APPENDS
                    {
                        var items = PopMark();
                        if (Top() is not List<object?> l) throw Bad("APPENDS on something that is not a list");
                        l.AddRange(items);
                        break;
                    }
                default:
                    throw Refused($"uses opcode 0x{op:x2} ('{(op is >= 0x20 and < 0x7f ? (char)op : '?')}') at byte {pos - 1}");
            }
            if (stack.Count > 1_000_000) throw Bad("the pickle's stack grows past a million items");
        }
    }

    private string ReadLine(ReadOnlySpan<byte> p, ref int pos)
    {
        int nl = p[pos..].IndexOf((byte)'\n');
        if (nl < 0 || nl > 256) throw Bad($"a GLOBAL opcode at byte {pos} has no name line");
        var s = p.Slice(pos, nl);
        pos += nl + 1;
        foreach (byte b in s)
        {
            if (b < 0x20 || b >= 0x7f) throw Bad("a GLOBAL opcode names a module or attribute with non-ASCII bytes");
        }
        return Encoding.ASCII.GetString(s);
    }

    private TorchStorageRef PersistentLoad(object? pid, Dictionary<string, TorchStorageRef> storages)
    {
        // torch.save's persistent id for a storage: ('storage', storage type, key, location, numel).
        if (pid is not Tuple { Items: [string kind, var type, string key, string location, long numel] })
            throw Bad($"a persistent id that is not ('storage', type, key, location, numel) (got a {TypeName(pid)})");
        if (kind != "storage") throw Refused($"holds a persistent id of kind '{kind}'");
        if (type is not Global { Module: "torch" } g || !StorageTypes.TryGetValue(g.Name, out var dtype))
            throw Bad($"storage '{key}' has type {TypeName(type)}, not a torch storage type");
        _ = location; // 'cpu' or 'cuda:N': the bytes are the same; everything is read to the host.
        if (numel < 0) throw Bad($"storage '{key}' has a negative size {numel}");
        if (storages.TryGetValue(key, out var known))
        {
            if (known.DType != dtype || known.Numel != numel) throw Bad($"storage '{key}' is named twice with different types or sizes");
            return known;
        }
        var s = _storage((key, g.Name, dtype, numel));
        storages[key] = s;
        return s;
    }

    private object? Call(Global g, object?[] a)
    {
        switch (g.FullName)
        {
            case "collections.OrderedDict":
                if (a.Length != 0) throw Refused("builds an OrderedDict from arguments");
                return new Dict();
            case "torch._utils._rebuild_tensor_v2":
                {
                    // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
                    if (a.Length is not (6 or 7)) throw Bad($"_rebuild_tensor_v2 takes 6 or 7 arguments, got {a.Length}");
                    if (a[0] is not TorchStorageRef s) throw Bad($"_rebuild_tensor_v2 is given a {TypeName(a[0])} instead of a storage");
                    if (a[1] is not long offset || offset < 0) throw Bad("_rebuild_tensor_v2 is given a bad storage offset");
                    var shape = Ints(a[2], "size");
                    var stride = Ints(a[3], "stride");
                    if (shape.Length != stride.Length) throw Bad($"a tensor has {shape.Length} sizes but {stride.Length} strides");
                    if (a[4] is not bool) throw Bad("_rebuild_tensor_v2's requires_grad is not a bool");
                    if (a[5] is not Dict { Items.Count: 0 }) throw Refused("attaches backward hooks to a tensor");
                    return CheckView(new TorchTensorRef(s, offset, shape, stride));
                }
            case "torch._utils._rebuild_parameter":
            case "torch._utils._rebuild_parameter_with_state":
                {
                    // (data, requires_grad, backward_hooks[, state]): a Parameter is its data for inference.
                    if (a.Length is not (3 or 4) || a[0] is not TorchTensorRef t) throw Bad($"{g.Name} is not given (tensor, requires_grad, hooks)");
                    if (a[2] is not Dict { Items.Count: 0 }) throw Refused("attaches backward hooks to a parameter");
                    return t;
                }
            default:
                throw Refused($"calls {g.FullName}");
        }
    }

    private long[] Ints(object? o, string what)
    {
        if (o is not Tuple t) throw Bad($"a tensor {what} is a {TypeName(o)}, not a tuple");
        var r = new long[t.Items.Length];
        for (int i = 0; i < r.Length; i++)
        {
            if (t.Items[i] is not long v || v < 0) throw Bad($"a tensor {what} holds {TypeName(t.Items[i])} {t.Items[i]}, not a non-negative integer");
            r[i] = v;
        }
        if (r.Length > 16) throw Bad($"a tensor with {r.Length} dimensions");
        return r;
    }

    /// <summary>Every element the view can reach must lie inside its storage.</summary>
    private TorchTensorRef CheckView(TorchTensorRef t)
    {
        long count = 1, last = t.Offset;
        try
        {
            for (int i = 0; i < t.Shape.Length; i++)
            {
                count = checked(count * t.Shape[i]);
                if (t.Shape[i] > 0) last = checked(last + (t.Shape[i] - 1) * t.Stride[i]);
            }
        }
        catch (OverflowException)
        {
            throw Bad($"a tensor of shape [{string.Join(", ", t.Shape)}] overflows");
        }
        if (count > 0 && last >= t.Storage.Numel)
            throw Bad($"a tensor view (offset {t.Offset}, shape [{string.Join(", ", t.Shape)}], stride [{string.Join(", ", t.Stride)}]) reaches element {last} of storage '{t.Storage.Key}', which holds {t.Storage.Numel}");
        return t;
    }
}
