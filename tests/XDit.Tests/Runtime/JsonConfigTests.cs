using XDit.Runtime;

namespace XDit.Tests.Runtime;

public class JsonConfigTests
{
    [Fact]
    public void DemoSchedulerConfigReadsMinusInfinity()
    {
        var c = JsonConfig.Load(Path.Combine(TestPaths.DemoModel, "scheduler", "scheduler_config.json"));
        Assert.Equal(double.NegativeInfinity, c.GetDouble("lambda_min_clipped"));
        Assert.Equal("DPMSolverMultistepScheduler", c.ClassName);
        Assert.Equal(1000, c.GetInt("num_train_timesteps"));
        Assert.Equal(0.02, c.GetDouble("beta_end"));
        Assert.False(c.Has("trained_betas")); // null counts as absent
        Assert.Null(c.GetDoubleOrNull("variance_type"));
        Assert.True(c.GetBool("lower_order_final"));
    }

    [Fact]
    public void NonFiniteLiteralsAreNumbersAndStringsStayStrings()
    {
        var c = JsonConfig.Parse("""
            {"a": NaN, "b": Infinity, "c": -Infinity, "arr": [1, -Infinity, NaN],
             "s1": "NaN is not a number", "s2": "-Infinity and beyond", "s3": "say \"NaN\" Infinity", "name": "NaNo"}
            """);
        Assert.True(double.IsNaN(c.GetDouble("a")));
        Assert.Equal(double.PositiveInfinity, c.GetDouble("b"));
        Assert.Equal(double.NegativeInfinity, c.GetDouble("c"));
        var arr = c.GetDoubleArray("arr");
        Assert.Equal(1, arr[0]);
        Assert.Equal(double.NegativeInfinity, arr[1]);
        Assert.True(double.IsNaN(arr[2]));
        Assert.Equal("NaN is not a number", c.GetString("s1"));
        Assert.Equal("-Infinity and beyond", c.GetString("s2"));
        Assert.Equal("say \"NaN\" Infinity", c.GetString("s3"));
        Assert.Equal("NaNo", c.GetString("name"));
        Assert.Throws<FormatException>(() => c.GetDouble("name"));
    }

    [Fact]
    public void MissingKeyNamesFileAndKey()
    {
        var c = JsonConfig.Parse("""{"x": 1, "n": null}""", "some/config.json");
        var e = Assert.Throws<KeyNotFoundException>(() => c.GetInt("num_layers"));
        Assert.Equal("some/config.json: missing key 'num_layers'", e.Message);
        Assert.Contains("'n'", Assert.Throws<KeyNotFoundException>(() => c.GetString("n")).Message);
        Assert.Equal(7, c.GetInt("num_layers", 7));
    }

    [Theory]
    [InlineData("""{"k": 1.5}""", "int", "must be an integer, found 1.5")]
    [InlineData("""{"k": "12"}""", "int", "must be an integer, found \"12\"")]
    [InlineData("""{"k": 3000000000}""", "int", "must be an integer, found 3000000000")]
    [InlineData("""{"k": [1, 2]}""", "string", "must be a string, found [1, 2]")]
    [InlineData("""{"k": "yes"}""", "bool", "must be true or false, found \"yes\"")]
    [InlineData("""{"k": "fast"}""", "double", "must be a number, found \"fast\"")]
    [InlineData("""{"k": 4}""", "intarray", "must be an array of integers, found 4")]
    [InlineData("""{"k": [1, "x"]}""", "doublearray", "must be an array of numbers, found [1, \"x\"]")]
    public void WrongTypeNamesFileKeyExpectedAndFound(string json, string getter, string fragment)
    {
        var c = JsonConfig.Parse(json, "dir/config.json");
        Action read = getter switch
        {
            "int" => () => c.GetInt("k"),
            "string" => () => c.GetString("k"),
            "bool" => () => c.GetBool("k"),
            "double" => () => c.GetDouble("k"),
            "intarray" => () => c.GetIntArray("k"),
            _ => () => c.GetDoubleArray("k"),
        };
        var e = Assert.Throws<FormatException>(read);
        Assert.StartsWith("dir/config.json: key 'k' ", e.Message);
        Assert.Contains(fragment, e.Message);
    }

    [Fact]
    public void InvalidJsonAndMissingFile()
    {
        Assert.StartsWith("c.json: invalid JSON", Assert.Throws<FormatException>(() => JsonConfig.Parse("{\"a\": ", "c.json")).Message);
        Assert.Contains("expected a JSON object", Assert.Throws<FormatException>(() => JsonConfig.Parse("[1]", "c.json")).Message);
        var missing = Path.Combine(TestPaths.TempDir(), "config.json");
        Assert.Contains(missing, Assert.Throws<FileNotFoundException>(() => JsonConfig.Load(missing)).Message);
    }
}
