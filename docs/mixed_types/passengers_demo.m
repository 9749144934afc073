% Two passengers as a struct of columns: numbers as column vectors, text as a cell array
% of char ('' is a missing value). In MATLAB a table works too.
s = struct();
s.age = [22; NaN];
s.fare = [7.25; 71.28];
s.embarked = {'S'; ''};
s.sex = {'male'; 'female'};
s.pclass = [3; 1];
[label, proba] = passengers(s);
fprintf('%d %.6f\n', [double(label), proba(:, 2)]');
