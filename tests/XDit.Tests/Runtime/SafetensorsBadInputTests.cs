using System.Text;
using XDit.Runtime;

namespace XDit.Tests.Runtime;

/// <summary>One test per malformed-file case: the exception is a SafetensorsFormatException whose message names the
/// file, the tensor when there is one, and what was expected or found.</summary>
public class SafetensorsBadInputTests
{
    static SafetensorsFormatException Open(byte[] bytes)
    {
        var path = RawSafetensors.WriteTemp(bytes);
        var e = Assert.Throws<SafetensorsFormatException>(() => { using var f = new SafetensorsFile(path); });
        Assert.Contains(path, e.Message);
        Assert.Equal(path, e.FilePath);
        return e;
    }

    static void AssertTensor(SafetensorsFormatException e, string tensor, params string[] fragments)
    {
        Assert.Equal(tensor, e.TensorName);
        Assert.Contains($"'{tensor}'", e.Message);
        foreach (var f in fragments) Assert.Contains(f, e.Message);
    }

    const string Good = """{"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}}""";

    [Fact]
    public void TheGoodBaselineOpens()
    {
        var path = RawSafetensors.WriteTemp(RawSafetensors.Build(Good, 24));
        using var f = new SafetensorsFile(path);
        Assert.Equal([2, 3], f.Info("w").Shape);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(5)]
    [InlineData(7)]
    public void FileShorterThanEightBytes(int length)
    {
        var e = Open(new byte[length]);
        Assert.Contains($"file is {length} bytes", e.Message);
    }

    [Fact]
    public void HeaderLengthPastTheEndOfTheFile()
    {
        var e = Open(RawSafetensors.Build(Encoding.UTF8.GetBytes(Good), 24, declaredHeaderLength: 5000));
        Assert.Contains("header length 5000 runs past the end of the file", e.Message);
    }

    [Fact]
    public void HeaderLengthOverOneHundredMegabytes()
    {
        var e = Open(RawSafetensors.Build(Encoding.UTF8.GetBytes(Good), 24, declaredHeaderLength: 100_000_001));
        Assert.Contains("header length 100000001 is over the 100000000-byte limit", e.Message);
        var huge = Open(RawSafetensors.Build(Encoding.UTF8.GetBytes(Good), 24, declaredHeaderLength: ulong.MaxValue));
        Assert.Contains(ulong.MaxValue.ToString(), huge.Message);
    }

    [Fact]
    public void HeaderNotUtf8()
    {
        var header = Encoding.UTF8.GetBytes(Good);
        header[3] = 0xff; // inside the name "w"
        Assert.Contains("not valid UTF-8", Open(RawSafetensors.Build(header, 24)).Message);
    }

    [Theory]
    [InlineData("{\"w\":")]
    [InlineData("")]
    [InlineData("{\"w\":{}} trailing")]
    public void HeaderNotJson(string header)
    {
        Assert.Contains("header is not valid JSON", Open(RawSafetensors.Build(header, 0)).Message);
    }

    [Theory]
    [InlineData("[1,2]", "an array")]
    [InlineData("\"text\"", "a string")]
    [InlineData("42", "a number")]
    public void HeaderNotAnObject(string header, string found)
    {
        var e = Open(RawSafetensors.Build(header, 0));
        Assert.Contains($"header must be a JSON object, found {found}", e.Message);
        Assert.Null(e.TensorName);
    }

    [Theory]
    [InlineData("dtype")]
    [InlineData("shape")]
    [InlineData("data_offsets")]
    public void EntryMissingAField(string field)
    {
        var fields = new Dictionary<string, string> { ["dtype"] = "\"F32\"", ["shape"] = "[2,3]", ["data_offsets"] = "[0,24]" };
        fields.Remove(field);
        var header = "{\"w\":{" + string.Join(",", fields.Select(kv => $"\"{kv.Key}\":{kv.Value}")) + "}}";
        AssertTensor(Open(RawSafetensors.Build(header, 24)), "w", $"entry has no '{field}'");
    }

    [Theory]
    [InlineData("""{"w":{"dtype":5,"shape":[2,3],"data_offsets":[0,24]}}""", "'dtype' must be a string, found a number 5")]
    [InlineData("""{"w":{"dtype":"F32","shape":"2x3","data_offsets":[0,24]}}""", "'shape' must be an array")]
    [InlineData("""{"w":{"dtype":"F32","shape":[2,3],"data_offsets":{"begin":0}}}""", "'data_offsets' must be an array")]
    [InlineData("""{"w":{"dtype":"F32","shape":[2,"3"],"data_offsets":[0,24]}}""", "shape[1] must be an integer, found \"3\"")]
    [InlineData("""{"w":{"dtype":"F32","shape":[2,3.5],"data_offsets":[0,24]}}""", "shape[1] must be an integer, found 3.5")]
    [InlineData("""{"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,"24"]}}""", "data_offsets end must be a non-negative integer, found \"24\"")]
    [InlineData("""{"w":{"dtype":"F32","shape":[2,3],"data_offsets":[-8,24]}}""", "data_offsets begin must be a non-negative integer, found -8")]
    [InlineData("""{"w":[1,2,3]}""", "entry must be an object")]
    public void EntryWithWrongJsonTypes(string header, string fragment)
    {
        AssertTensor(Open(RawSafetensors.Build(header, 24)), "w", fragment);
    }

    [Fact]
    public void UnknownDType()
    {
        AssertTensor(Open(RawSafetensors.Build("""{"w":{"dtype":"Q4_K","shape":[2,3],"data_offsets":[0,24]}}""", 24)), "w", "unknown dtype 'Q4_K'");
    }

    [Fact]
    public void NegativeDimension()
    {
        AssertTensor(Open(RawSafetensors.Build("""{"w":{"dtype":"F32","shape":[2,-3],"data_offsets":[0,24]}}""", 24)), "w", "shape[1] is negative (-3)");
    }

    [Theory]
    [InlineData("[0]", "data_offsets must be [begin, end], found 1 values")]
    [InlineData("[0,12,24]", "data_offsets must be [begin, end], found 3 values")]
    [InlineData("[24,0]", "data_offsets [24, 0] has begin after end")]
    public void DataOffsetsNotBeginEnd(string offsets, string fragment)
    {
        var header = "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":" + offsets + "}}";
        AssertTensor(Open(RawSafetensors.Build(header, 24)), "w", fragment);
    }

    [Fact]
    public void EndPastTheDataArea()
    {
        AssertTensor(Open(RawSafetensors.Build(Good, 20)), "w", "data_offsets end 24 is past the end of the data area (20 bytes)");
    }

    [Theory]
    [InlineData("[2,3]", "[0,20]", "hold 20 bytes, expected 24 for F32 [2, 3]")]
    [InlineData("[2,4]", "[0,24]", "hold 24 bytes, expected 32 for F32 [2, 4]")]
    [InlineData("[2147483647,2147483647,2147483647,2147483647]", "[0,24]", "expected more than the file can hold")]
    public void ByteCountDisagreesWithShape(string shape, string offsets, string fragment)
    {
        var header = "{\"w\":{\"dtype\":\"F32\",\"shape\":" + shape + ",\"data_offsets\":" + offsets + "}}";
        AssertTensor(Open(RawSafetensors.Build(header, 24)), "w", fragment);
    }

    [Fact]
    public void OverlappingTensors()
    {
        const string header = """{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[4],"data_offsets":[12,28]}}""";
        AssertTensor(Open(RawSafetensors.Build(header, 32)), "b", "overlap tensor 'a' at [0, 16]");
        // Listed out of order in the header: still found after sorting by begin.
        const string reversed = """{"b":{"dtype":"U8","shape":[8],"data_offsets":[8,16]},"a":{"dtype":"U8","shape":[16],"data_offsets":[0,16]}}""";
        AssertTensor(Open(RawSafetensors.Build(reversed, 16)), "b", "overlap tensor 'a'");
    }

    [Fact]
    public void DuplicateTensorName()
    {
        const string header = """{"w":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"w":{"dtype":"U8","shape":[4],"data_offsets":[4,8]}}""";
        AssertTensor(Open(RawSafetensors.Build(header, 8)), "w", "named twice");
    }

    [Theory]
    [InlineData("""{"__metadata__":{"format":1}}""", "'__metadata__' entry 'format' must be a string, found a number")]
    [InlineData("""{"__metadata__":["pt"]}""", "'__metadata__' must be an object of strings, found an array")]
    public void MetadataNotStringToString(string header, string fragment)
    {
        Assert.Contains(fragment, Open(RawSafetensors.Build(header, 0)).Message);
    }

    [Fact]
    public void EmptyHeaderObjectAndZeroSizeTensorsAreValid()
    {
        var empty = RawSafetensors.WriteTemp(RawSafetensors.Build("{}  ", 0));
        using (var f = new SafetensorsFile(empty)) Assert.Empty(f.Names);
        // A zero-size tensor may sit anywhere, even inside another's range: it shares no bytes.
        var path = RawSafetensors.WriteTemp(RawSafetensors.Build("""{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"z":{"dtype":"F32","shape":[0,3],"data_offsets":[2,2]}}""", 4));
        using var g = new SafetensorsFile(path);
        Assert.Equal(0, g.Read("z").NumElements);
    }

    [Fact]
    public void MissingTensorNamesFileAndTensor()
    {
        var path = RawSafetensors.WriteTemp(RawSafetensors.Build(Good, 24));
        using var f = new SafetensorsFile(path);
        var e = Assert.Throws<MissingTensorException>(() => f.Read("nope"));
        Assert.Contains(path, e.Message);
        Assert.Contains("'nope'", e.Message);
    }

    [Fact]
    public void MissingFile()
    {
        var path = Path.Combine(TestPaths.TempDir(), "absent.safetensors");
        var e = Assert.Throws<FileNotFoundException>(() => new SafetensorsFile(path));
        Assert.Contains(path, e.Message);
    }
}
